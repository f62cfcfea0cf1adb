/* A program whose syscalls are known: test_static_analysis.py compiles it with gcc.
   - getpid (39) by a syscall instruction of its own;
   - nanosleep through glibc (glibc 2.36 makes it clock_nanosleep);
   - gettid through glibc's generic syscall() with the constant SYS_gettid, read at the call;
   - glibc's generic syscall() with a number computed at run time: never resolved;
   - foo() from libfoo.so, which reaches kcmp (312) through a local function;
   - via_table() from libfoo.so, which reaches mbind and set_mempolicy through pointers. */
#define _GNU_SOURCE
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

extern long foo(void);
extern long via_table(int);

static long raw_getpid(void) {
    long ret;
    __asm__ volatile ("mov $39, %%eax\n\tsyscall" : "=a"(ret) : : "rcx", "r11", "memory");
    return ret;
}

int main(int argc, char **argv) {
    struct timespec ts = {0, 1000};
    nanosleep(&ts, 0);
    long tid = syscall(SYS_gettid, argc);
    if (argc > 5)
        tid += syscall(argc + 200);
    return (int)(raw_getpid() + tid + foo() + via_table(argc)) & 1;
}
