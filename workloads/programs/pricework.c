/* pricework: a fixed amount of CPU work at a known stack depth, in rounds the harness asks for.
 *
 *   cc -O2 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer pricework.c -o pricework
 *   pricework DEPTH
 *
 * The price list (harness/src/price/) measures what one sample costs the sampled thread: it
 * runs this program pinned to one CPU and alternates rounds with sampling on and off. The
 * program first prints `tid N`, the thread the rounds run on (perf names samples by it).
 * Then each line read from stdin is a number of iterations N: the thread calls level 0 -> 1
 * -> ... -> DEPTH-1 -> spin, spins N iterations of a multiply-add (no memory traffic beyond
 * its own stack, so a round costs the same every time), and answers with one line:
 *
 *   CPU_NS START_NS END_NS
 *
 * the round's CPU time of the thread (CLOCK_THREAD_CPUTIME_ID: on a kernel without IRQ time
 * accounting it includes the sampling interrupts the thread suffered, and it excludes the
 * hypervisor's steal) and its start and end on CLOCK_MONOTONIC (the clock perf records with
 * `-k mono`, so the harness can count the samples that fell inside the round). A line `q`
 * ends the program.
 *
 * Every level keeps FRAME_BYTES of locals, so DEPTH levels hold DEPTH * FRAME_BYTES of stack:
 * 100 levels of 704 bytes are more than perf's largest DWARF copy (65528 bytes), so every
 * DWARF sample copies its full size, while a frame-pointer walk visits DEPTH + 3 frames.
 *
 * The rounds run on a thread whose stack the program maps itself, with an inaccessible page
 * right above its top. The kernel's DWARF copy stops at the first byte it cannot read, so a
 * sample copies exactly the stack in use, the same in every run: on the main thread the
 * copy would run on into the environment strings above the stack, whose size and placement
 * vary from one start to the next. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef FRAME_BYTES
#define FRAME_BYTES 704
#endif
#define MAX_DEPTH 120
/* Room for MAX_DEPTH levels and the thread's own start frames. */
#define STACK_BYTES (256 * 1024)

static volatile uint64_t sink;
static int depth;
static uint64_t iterations;

static uint64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) static void spin(void) {
    uint64_t x = sink;
    for (uint64_t i = 0; i < iterations; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sink = x;
}

/* One level: its locals (touched, so they are real), then the next level or the spin. */
__attribute__((noinline)) static void level(int n) {
    volatile char locals[FRAME_BYTES];
    memset((char *)locals, n, FRAME_BYTES);
    if (n + 1 < depth)
        level(n + 1);
    else
        spin();
    sink += locals[FRAME_BYTES / 2];
}

/* The rounds, on the mapped stack: one per line of stdin. */
static void *rounds(void *arg) {
    (void)arg;
    printf("tid %ld\n", (long)syscall(SYS_gettid));
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == 'q')
            break;
        char *end;
        iterations = strtoull(line, &end, 10);
        if (end == line) {
            fprintf(stderr, "pricework: expected a number of iterations or q, got %s", line);
            exit(2);
        }
        uint64_t start = now_ns(CLOCK_MONOTONIC);
        uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        level(0);
        uint64_t cpu1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        uint64_t stop = now_ns(CLOCK_MONOTONIC);
        printf("%llu %llu %llu\n", (unsigned long long)(cpu1 - cpu0), (unsigned long long)start,
               (unsigned long long)stop);
        fflush(stdout);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: pricework DEPTH (1..%d); rounds are read from stdin\n", MAX_DEPTH);
        return 2;
    }
    depth = atoi(argv[1]);
    if (depth < 1 || depth > MAX_DEPTH) {
        fprintf(stderr, "pricework: DEPTH must be 1..%d\n", MAX_DEPTH);
        return 2;
    }
    long page = sysconf(_SC_PAGESIZE);
    /* [stack ... top][inaccessible page] */
    char *map = mmap(NULL, STACK_BYTES + page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (map == MAP_FAILED || mprotect(map + STACK_BYTES, page, PROT_NONE) != 0) {
        perror("pricework: cannot map its stack");
        return 1;
    }
    pthread_attr_t attr;
    pthread_t thread;
    if (pthread_attr_init(&attr) != 0 || pthread_attr_setstack(&attr, map, STACK_BYTES) != 0 ||
        pthread_create(&thread, &attr, rounds, NULL) != 0) {
        fprintf(stderr, "pricework: cannot start its thread\n");
        return 1;
    }
    pthread_join(thread, NULL);
    return 0;
}
