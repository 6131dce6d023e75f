/* A program whose call stacks are known: main -> run -> outer -> middle -> inner -> spin,
 * plus a second branch main -> run -> other -> spin. It burns CPU for the given number of
 * milliseconds so a sampling profiler sees those stacks and nothing else of note.
 *
 * Built with frame pointers and debug info (see scripts/make-fixtures.sh); noinline keeps
 * every function a real frame. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static volatile uint64_t sink;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((noinline)) static void spin(double until_ms) {
    uint64_t x = sink;
    while (now_ms() < until_ms) {
        for (int i = 0; i < 10000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    }
    sink = x;
}

__attribute__((noinline)) static void inner(double until_ms) { spin(until_ms); sink++; }
__attribute__((noinline)) static void middle(double until_ms) { inner(until_ms); sink++; }
__attribute__((noinline)) static void outer(double until_ms) { middle(until_ms); sink++; }
__attribute__((noinline)) static void other(double until_ms) { spin(until_ms); sink++; }

__attribute__((noinline)) static void run(double ms) {
    /* Three quarters of the time through the deep branch, a quarter through the short one,
     * alternating in 10 ms slices. */
    double end = now_ms() + ms;
    int slice = 0;
    while (now_ms() < end) {
        double until = now_ms() + 10;
        if (until > end)
            until = end;
        if (slice++ % 4 == 3)
            other(until);
        else
            outer(until);
    }
}

int main(int argc, char **argv) {
    run(argc > 1 ? atof(argv[1]) : 500);
    return 0;
}
