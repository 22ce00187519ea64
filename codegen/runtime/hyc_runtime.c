/* The runtime that hyc's shared libraries link with: what generated code calls back into.
 * Programs may define hyc_print_value themselves (it is weak) to route hy.print elsewhere. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

static void print_element(int32_t code, const char *data, int64_t i) {
    switch (code) {
    case 0: printf("%.8g", (double)((const float *)data)[i]); break;
    case 1: printf("%.17g", ((const double *)data)[i]); break;
    case 2: printf("%d", ((const int32_t *)data)[i]); break;
    case 3: printf("%lld", (long long)((const int64_t *)data)[i]); break;
    case 4: printf("%s", ((const uint8_t *)data)[i] ? "True" : "False"); break;
    }
}

static int64_t print_nested(int32_t code, const char *data, int64_t rank, const int64_t *sizes,
                            int64_t index) {
    if (rank == 0) {
        print_element(code, data, index);
        return index + 1;
    }
    printf("[");
    for (int64_t i = 0; i < sizes[0]; i++) {
        if (i) printf(" ");
        index = print_nested(code, data, rank - 1, sizes + 1, index);
    }
    printf("]");
    return index;
}

/* hy.print: one value (code: 0 f32, 1 f64, 2 i32, 3 i64, 4 bool; -1 for an empty print). */
__attribute__((weak)) void hyc_print_value(int32_t code, int64_t rank, void *data,
                                           int64_t *sizes, int32_t last) {
    if (code >= 0) print_nested(code, (const char *)data, rank, sizes, 0);
    printf(last ? "\n" : " ");
}

/* Compiled loops whose trip count the program chose stop with status -2 once this counter
 * moves during the call: a program's SIGINT handler calls hyc_interrupt() (it is
 * async-signal-safe) to stop a long-running hyc function. */
__attribute__((weak)) volatile int64_t hyc_interrupts = 0;

__attribute__((weak)) void hyc_interrupt(void) {
    __atomic_fetch_add(&hyc_interrupts, 1, __ATOMIC_RELAXED);
}

/* The thread pool (generated with the library, codegen/threads.py) forgets its workers in a
 * child process: fork() copies only the calling thread. */
void hyc_pool_forked(void);

__attribute__((constructor)) static void hyc_pool_watch_forks(void) {
    pthread_atfork(NULL, NULL, hyc_pool_forked);
}
