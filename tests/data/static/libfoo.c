/* A library for test_static_analysis.py: foo() and via_table() are imported by prog.c,
   bar() never is. foo reaches sched_yield through glibc and kcmp (312) through a local
   function; via_table reaches mbind (237) and set_mempolicy (238) only through a table of
   function pointers in data (which glibc wraps for neither); bar makes pivot_root (155),
   which nothing the program imports can reach; its destructor makes migrate_pages (256),
   which only exit() or dlclose() runs. */
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

#define RAW(name, nr) \
    __attribute__((noinline)) static long name(void) { \
        long ret; \
        __asm__ volatile ("mov $" #nr ", %%eax\n\tsyscall" : "=a"(ret) : : "rcx", "r11", "memory"); \
        return ret; \
    }
RAW(local_mbind, 237)
RAW(local_set_mempolicy, 238)

static long (*const table[])(void) = { local_mbind, local_set_mempolicy };

long via_table(int i) {
    return table[i & 1]();
}

RAW(local_migrate_pages, 256)

__attribute__((destructor)) static void farewell(void) {
    local_migrate_pages();
}
