/* deepstack: call stacks of known depth and size.
 *
 *   cc -DFRAME_BYTES=F ... deepstack.c -o deepstack
 *   deepstack DEPTH THREADS RAMP_MS RUN_MS
 *
 * Each of THREADS threads calls chain_00 -> chain_01 -> ... -> chain_{DEPTH-1} -> leaf_spin,
 * every chain function keeping FRAME_BYTES of locals on its frame (an array, touched so it
 * is real), then spins in leaf_spin until MILLISECONDS have passed, and the program prints
 * how many spin rounds all threads did (`iterations N`). A profiler that unwinds correctly
 * sees exactly that chain under start_thread; the stack bytes from the leaf to the thread
 * start are DEPTH * (FRAME_BYTES + a few words) plus the thread start's frames.
 *
 * The frame size is fixed at compile time because a variable-size frame (alloca) forces a
 * frame pointer even under -fomit-frame-pointer, and the harness builds the program both
 * with and without frame pointers (see harness/src/workload/program.rs). Every function is
 * noinline so each is a frame of its own. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DEPTH 64

#ifndef FRAME_BYTES
#define FRAME_BYTES 1024
#endif

static volatile uint64_t sink;
static volatile uint64_t rounds;
static int depth;
static double measure_from_ms;
static double until_ms;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((noinline)) static void leaf_spin(void) {
    uint64_t x = sink, n = 0;
    double now;
    while ((now = now_ms()) < until_ms) {
        for (int i = 0; i < 20000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        if (now >= measure_from_ms)
            n++;
    }
    sink = x;
    __atomic_add_fetch(&rounds, n, __ATOMIC_RELAXED);
}

typedef void (*level_fn)(int);
static level_fn levels[MAX_DEPTH];

/* One chain function: its locals, then the next level (or the leaf). */
#define LEVEL(n)                                                            \
    __attribute__((noinline)) static void chain_##n(int level) {            \
        volatile char locals[FRAME_BYTES];                                  \
        memset((char *)locals, (int)level, FRAME_BYTES);                    \
        if (level + 1 < depth)                                              \
            levels[level + 1](level + 1);                                   \
        else                                                                \
            leaf_spin();                                                    \
        sink += locals[FRAME_BYTES / 2];                                    \
    }
LEVEL(00) LEVEL(01) LEVEL(02) LEVEL(03) LEVEL(04) LEVEL(05) LEVEL(06) LEVEL(07)
LEVEL(08) LEVEL(09) LEVEL(10) LEVEL(11) LEVEL(12) LEVEL(13) LEVEL(14) LEVEL(15)
LEVEL(16) LEVEL(17) LEVEL(18) LEVEL(19) LEVEL(20) LEVEL(21) LEVEL(22) LEVEL(23)
LEVEL(24) LEVEL(25) LEVEL(26) LEVEL(27) LEVEL(28) LEVEL(29) LEVEL(30) LEVEL(31)
LEVEL(32) LEVEL(33) LEVEL(34) LEVEL(35) LEVEL(36) LEVEL(37) LEVEL(38) LEVEL(39)
LEVEL(40) LEVEL(41) LEVEL(42) LEVEL(43) LEVEL(44) LEVEL(45) LEVEL(46) LEVEL(47)
LEVEL(48) LEVEL(49) LEVEL(50) LEVEL(51) LEVEL(52) LEVEL(53) LEVEL(54) LEVEL(55)
LEVEL(56) LEVEL(57) LEVEL(58) LEVEL(59) LEVEL(60) LEVEL(61) LEVEL(62) LEVEL(63)

__attribute__((noinline)) static void *worker(void *arg) {
    (void)arg;
    if (depth > 0)
        levels[0](0);
    else
        leaf_spin();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: deepstack DEPTH THREADS RAMP_MS RUN_MS (frame: %d bytes)\n",
                FRAME_BYTES);
        return 2;
    }
    depth = atoi(argv[1]);
    int threads = atoi(argv[2]);
    double ramp = atof(argv[3]), ms = atof(argv[4]);
    if (depth < 0 || depth > MAX_DEPTH || threads < 1 || threads > 64 || ramp < 0 || ms <= 0) {
        fprintf(stderr, "deepstack: DEPTH 0..%d, THREADS 1..64\n", MAX_DEPTH);
        return 2;
    }
    level_fn all[MAX_DEPTH] = {
        chain_00, chain_01, chain_02, chain_03, chain_04, chain_05, chain_06, chain_07,
        chain_08, chain_09, chain_10, chain_11, chain_12, chain_13, chain_14, chain_15,
        chain_16, chain_17, chain_18, chain_19, chain_20, chain_21, chain_22, chain_23,
        chain_24, chain_25, chain_26, chain_27, chain_28, chain_29, chain_30, chain_31,
        chain_32, chain_33, chain_34, chain_35, chain_36, chain_37, chain_38, chain_39,
        chain_40, chain_41, chain_42, chain_43, chain_44, chain_45, chain_46, chain_47,
        chain_48, chain_49, chain_50, chain_51, chain_52, chain_53, chain_54, chain_55,
        chain_56, chain_57, chain_58, chain_59, chain_60, chain_61, chain_62, chain_63,
    };
    memcpy(levels, all, sizeof all);
    measure_from_ms = now_ms() + ramp;
    until_ms = measure_from_ms + ms;
    pthread_t tids[64];
    for (int i = 0; i < threads; i++)
        pthread_create(&tids[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    printf("iterations %llu\n", (unsigned long long)rounds);
    return 0;
}
