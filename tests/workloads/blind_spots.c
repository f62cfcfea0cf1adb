/* Workloads that hide from a recorder keyed by the wrong things (tests/test_recorder_blind_spots.py).
 *
 *   blind_spots int80 N            N i386 getpid calls through int 0x80 from this 64-bit process
 *                                  (each checked against one x86_64 getpid)
 *   blind_spots fadvise            i386 fadvise64_64 (272, x86_64's unshare) through int 0x80
 *   blind_spots remap PATH         i386 remap_file_pages (257) with the x86_64 registers set up as
 *                                  openat(AT_FDCWD, PATH, O_RDWR): what a recorder reading the
 *                                  64-bit table and registers takes for an open of PATH
 *   blind_spots open32 PATH        i386 open(PATH, O_RDONLY) through int 0x80, then read it
 *   blind_spots leader-exit PATH [MS|GO]  main pthread_exit()s; a worker carries on, after MS
 *                                  milliseconds (200) or once the file GO exists, reads
 *                                  PATH, calls sysinfo (nothing else here does) and exits
 *   blind_spots thread-exec PATH   a worker thread executes /bin/cat PATH (de_thread gives it
 *                                  the leader's pid)
 *
 * Each prints what it did on stdout as "did NAME COUNT" lines: the truth the tests compare a
 * recording with.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static long int80(long nr, long b, long c, long d)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(b), "c"(c), "d"(d) : "memory");
    return ret;
}

static char *low_copy(const char *s)
{
    /* int 0x80 takes 32-bit pointers: the path must sit below 4 GiB */
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                   -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    strncpy(p, s, 4095);
    return p;
}

static const char *path;
static int delay_ms = 200;
static const char *go;               /* or wait for this file */

static void *leader_exit_worker(void *arg)
{
    (void)arg;
    if (go)
        for (int i = 0; i < 6000 && access(go, F_OK) != 0; i++)
            usleep(10000);
    else
        usleep(delay_ms * 1000);     /* the leader is gone by now */
    char buf[64];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
    struct sysinfo si;
    sysinfo(&si);
    printf("did open %d\ndid read %zd\ndid sysinfo 1\n", fd >= 0, n);
    fflush(stdout);
    exit(fd >= 0 ? 0 : 1);
}

static void *exec_worker(void *arg)
{
    (void)arg;
    printf("did execve 1\n");
    fflush(stdout);
    execl("/bin/cat", "cat", path, (char *)NULL);
    perror("execl");
    exit(3);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *mode = argv[1];
    path = argc > 2 ? argv[2] : "";
    if (!strcmp(mode, "int80")) {
        int n = argc > 2 ? atoi(argv[2]) : 1;
        for (int i = 0; i < n; i++)
            if (int80(20, 0, 0, 0) != getpid())          /* i386 getpid */
                return 1;
        printf("did getpid %d\n", n);
        return 0;
    }
    if (!strcmp(mode, "fadvise")) {
        long r = int80(272, -1, 0, 0);                      /* i386 fadvise64_64(-1, ...) */
        printf("did fadvise64_64 1\nresult %ld\n", r);
        return 0;
    }
    if (!strcmp(mode, "remap")) {
        char *p = low_copy(path);
        long ret;
        register long r10 __asm__("r10") = 0;
        /* rax 257: i386 remap_file_pages(ebx=0, ecx=0, edx=0 ...); rdi, rsi, rdx as an x86_64
         * openat(AT_FDCWD, p, O_RDWR) would have them */
        __asm__ volatile("xor %%ebx, %%ebx\n\txor %%ecx, %%ecx\n\tint $0x80"
                         : "=a"(ret)
                         : "a"(257L), "D"((long)AT_FDCWD), "S"(p), "d"((long)O_RDWR), "r"(r10)
                         : "rbx", "rcx", "memory");
        printf("did remap_file_pages 1\nresult %ld\n", ret);
        return 0;
    }
    if (!strcmp(mode, "open32")) {
        char *p = low_copy(path);
        long fd = int80(5, (long)p, O_RDONLY, 0);           /* i386 open */
        char buf[16];
        long n = fd >= 0 ? read((int)fd, buf, sizeof(buf)) : -1;
        printf("did open 1\nresult %ld %ld\n", fd, n);
        return fd >= 0 ? 0 : 1;
    }
    pthread_t t;
    if (!strcmp(mode, "leader-exit")) {
        if (argc > 3 && (argv[3][0] < '0' || argv[3][0] > '9'))
            go = argv[3];
        else if (argc > 3)
            delay_ms = atoi(argv[3]);
        pthread_create(&t, NULL, leader_exit_worker, NULL);
        pthread_exit(NULL);
    }
    if (!strcmp(mode, "thread-exec")) {
        pthread_create(&t, NULL, exec_worker, NULL);
        /* no syscall here: whether a pause() came before the worker's exec ended this thread
         * was a race, so a replay could make a call its recording never saw */
        for (;;)
            __asm__ volatile("" ::: "memory");
    }
    return 2;
}
