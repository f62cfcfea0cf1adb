/* A library for test_static_analysis.py whose calls go where no call instruction names:
   - via_imports() calls glibc's geteuid or getppid through a table of them in its data
     (slots the dynamic linker fills: R_X86_64_64 relocations naming imported symbols);
   - via_ifunc() calls a hidden IFUNC, whose slot the dynamic linker fills with what its
     resolver returns (R_X86_64_IRELATIVE): the implementation makes getpgrp (111). */
#include <unistd.h>

static long (*const imported[])(void) = { (long (*)(void))geteuid, (long (*)(void))getppid };

long via_imports(int i) {
    return imported[i & 1]();
}

__attribute__((noinline)) static long local_getpgrp(void) {
    long ret;
    __asm__ volatile ("mov $111, %%eax\n\tsyscall" : "=a"(ret) : : "rcx", "r11", "memory");
    return ret;
}

static long (*resolve_getpgrp(void))(void) {
    return local_getpgrp;
}

static long hidden_ifunc(void) __attribute__((ifunc("resolve_getpgrp")));

long via_ifunc(void) {
    return hidden_ifunc();
}
