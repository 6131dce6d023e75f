/* deepstack: call stacks of known depth and size.
 *
 *   deepstack DEPTH FRAME_BYTES THREADS MILLISECONDS
 *
 * Each of THREADS threads calls chain_00 -> chain_01 -> ... -> chain_{DEPTH-1} -> leaf_spin,
 * every chain function keeping FRAME_BYTES of locals on its frame (alloca, touched so it is
 * real), then spins in leaf_spin until MILLISECONDS have passed. A profiler that unwinds
 * correctly sees exactly that chain under start_thread; the stack bytes from the leaf to
 * the thread start are DEPTH * (FRAME_BYTES + a few words) plus the thread start's frames.
 *
 * Built with and without frame pointers by the harness (scripts/make-fixtures.sh shows the
 * commands); every function is noinline so each is a frame of its own. */
#include <alloca.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DEPTH 64

static volatile uint64_t sink;
static int depth;
static size_t frame_bytes;
static double until_ms;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((noinline)) static void leaf_spin(void) {
    uint64_t x = sink;
    while (now_ms() < until_ms) {
        for (int i = 0; i < 20000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    }
    sink = x;
}

typedef void (*level_fn)(int);
static level_fn levels[MAX_DEPTH];

/* One chain function: its locals, then the next level (or the leaf). */
#define LEVEL(n)                                                            \
    __attribute__((noinline)) static void chain_##n(int level) {            \
        volatile char *locals = alloca(frame_bytes);                        \
        memset((char *)locals, (int)level, frame_bytes);                    \
        if (level + 1 < depth)                                              \
            levels[level + 1](level + 1);                                   \
        else                                                                \
            leaf_spin();                                                    \
        sink += locals[frame_bytes / 2];                                    \
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
        fprintf(stderr, "usage: deepstack DEPTH FRAME_BYTES THREADS MILLISECONDS\n");
        return 2;
    }
    depth = atoi(argv[1]);
    frame_bytes = (size_t)atol(argv[2]);
    int threads = atoi(argv[3]);
    double ms = atof(argv[4]);
    if (depth < 0 || depth > MAX_DEPTH || frame_bytes < 16 || threads < 1 || threads > 64) {
        fprintf(stderr, "deepstack: DEPTH 0..%d, FRAME_BYTES >= 16, THREADS 1..64\n", MAX_DEPTH);
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
    until_ms = now_ms() + ms;
    pthread_t tids[64];
    for (int i = 0; i < threads; i++)
        pthread_create(&tids[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    return 0;
}
