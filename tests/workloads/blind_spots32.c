/* A real 32-bit (i386) program, without a C library (gcc -m32 -nostdlib -static needs no
 * multilib packages): getpid three times, one write, exit_group. tests/test_recorder_blind_spots.py
 * records it; every call after its execve is an i386 one. */
static long sys3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}

void _start(void)
{
    static const char msg[] = "did getpid 3\n";
    for (int i = 0; i < 3; i++)
        sys3(20, 0, 0, 0);                  /* getpid */
    sys3(4, 1, (long)msg, sizeof(msg) - 1); /* write */
    sys3(252, 0, 0, 0);                     /* exit_group, as a C library ends */
    for (;;)
        ;
}
