/* A library for test_static_analysis.py that exports a data object, not a function: a table
   of operations the program calls through (as a C++ program calls through a library class's
   vtable its inline constructor stored). Its rare() makes getitimer (36) by a syscall
   instruction of its own; nothing in the library's code names the table. */

__attribute__((noinline)) static long rare(void) {
    long ret;
    __asm__ volatile ("mov $36, %%eax\n\tsyscall" : "=a"(ret) : : "rcx", "r11", "memory");
    return ret;
}

struct ops { long (*rare)(void); };
const struct ops library_ops = { rare };
