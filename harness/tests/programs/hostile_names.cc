// A program whose names are hostile to HTML and XML: its thread is named ev<il&"name, and
// its functions demangle to names with <, & and " in them. unwindbench's outputs (flame
// graphs, reports) must show them escaped, and stay well-formed.
#include <sys/prctl.h>
#include <time.h>

static volatile unsigned long sink;

static double now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct Tag {};

// Demangles to `void spin_in<Tag&>(Tag&)`: < & >.
template <typename T>
__attribute__((noinline)) void spin_in(T, double until) {
    unsigned long x = sink;
    while (now_ms() < until)
        for (int i = 0; i < 10000; i++)
            x = x * 6364136223846793005UL + 1;
    sink = x;
}

// Demangles to `operator"" _spin(unsigned long long)`: a quote.
__attribute__((noinline)) void operator""_spin(unsigned long long ms) {
    Tag t;
    spin_in<Tag&>(t, now_ms() + static_cast<double>(ms));
}

int main() {
    prctl(PR_SET_NAME, "ev<il&\"name");
    400_spin;
    return 0;
}
