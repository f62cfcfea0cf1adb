/* A program for test_static_analysis.py that calls through libops.so's exported table. */
struct ops { long (*rare)(void); };
extern const struct ops library_ops;

int main(int argc, char **argv) {
    return argc > 5 ? (int)(library_ops.rare() & 1) : 0;
}
