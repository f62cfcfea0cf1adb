/* A library for test_static_analysis.py: foo() is imported by prog.c, bar() never is.
   foo reaches sched_yield through glibc and kcmp (312) through a local function;
   bar makes pivot_root (155), which nothing the program imports can reach. */
#include <sched.h>

__attribute__((noinline)) static long local_kcmp(long a) {
    long ret;
    __asm__ volatile ("mov $312, %%eax\n\tsyscall" : "=a"(ret) : "D"(a) : "rcx", "r11", "memory");
    return ret;
}

long foo(void) {
    sched_yield();
    return local_kcmp(0);
}

long bar(void) {
    long ret;
    __asm__ volatile ("mov $155, %%eax\n\tsyscall" : "=a"(ret) : : "rcx", "r11", "memory");
    return ret;
}
