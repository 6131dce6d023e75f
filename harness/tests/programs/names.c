/* Three functions of a known call chain (main -> outer_loop -> middle_step -> leaf_work) for
 * the naming tests: built with debug info for a debuginfod server, and stripped to run. */
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) void leaf_work(long n) {
    for (long i = 0; i < n; i++)
        sink += (unsigned long)i * 2654435761u;
}

__attribute__((noinline)) void middle_step(long n) {
    leaf_work(n);
    sink ^= 1;
}

__attribute__((noinline)) void outer_loop(long ms) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        middle_step(200000);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
}

int main(int argc, char **argv) {
    outer_loop(argc > 1 ? atol(argv[1]) : 1000);
    return 0;
}
