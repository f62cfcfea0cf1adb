/* A plugin for test_static_analysis.py: no program links it, one opens it with dlopen() and
   finds plug() with dlsym(). plug() makes get_mempolicy (239) by a syscall instruction of
   its own, which nothing else in the tests reaches. */

long plug(void) {
    long ret;
    __asm__ volatile ("mov $239, %%eax\n\tsyscall" : "=a"(ret) : : "rcx", "r11", "memory");
    return ret;
}
