/* A program for test_static_analysis.py that opens the plugin named by its argument with
   dlopen() and calls the function dlsym() finds by the name in its second: both names are
   data, so only the recording says which library it loaded. */
#include <dlfcn.h>

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h)
        return 1;
    long (*f)(void) = (long (*)(void))dlsym(h, argv[2]);
    return f ? (int)(f() & 1) : 1;
}
