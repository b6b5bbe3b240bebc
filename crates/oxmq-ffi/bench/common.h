/* What the benchmarks share: failing loudly, the clock, the library line, endpoints, arguments.
 * thr.c and lat.c run both sides in one process; local_thr.c, remote_thr.c, local_lat.c and
 * remote_lat.c are the two-process tools. Only zmq.h's API (and dladdr, to name the library
 * that the loader picked). */
#ifndef OXMQ_FFI_BENCH_COMMON_H
#define OXMQ_FFI_BENCH_COMMON_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* A benchmark that goes wrong stops at once with the call and errno, never measures on. */
#define MUST(cond)                                                                         \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: %s failed (errno %d: %s)\n", __FILE__, __LINE__,       \
                    #cond, zmq_errno(), zmq_strerror(zmq_errno()));                        \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* "# library 4.3.5 /real/path/libzmq.so.5.2.5": which libzmq the loader resolved zmq_version
 * to, so that a run against the wrong library shows (the script checks this line). */
static inline void print_library(void) {
    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    Dl_info info;
    const char *file = "?";
    char real[PATH_MAX];
    if (dladdr((void *)zmq_version, &info) && info.dli_fname) {
        file = realpath(info.dli_fname, real) ? real : info.dli_fname;
    }
    printf("# library %d.%d.%d %s\n", major, minor, patch, file);
    fflush(stdout);
}

/* The address to bind for transport "tcp", "ipc" (a fresh path in $TMPDIR or /tmp) or
 * "inproc". */
static inline void bind_address(const char *transport, char *out, size_t room) {
    if (strcmp(transport, "tcp") == 0) {
        snprintf(out, room, "tcp://127.0.0.1:*");
    } else if (strcmp(transport, "ipc") == 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(out, room, "ipc://%s/oxmq-ffi-bench-%ld.ipc", tmp && *tmp ? tmp : "/tmp",
                 (long)getpid());
    } else if (strcmp(transport, "inproc") == 0) {
        snprintf(out, room, "inproc://oxmq-ffi-bench");
    } else {
        fprintf(stderr, "transport must be tcp, ipc or inproc, not %s\n", transport);
        exit(2);
    }
}

/* Removes the ipc socket file, if the address is one. */
static inline void remove_ipc_file(const char *address) {
    if (strncmp(address, "ipc://", 6) == 0) {
        unlink(address + 6);
    }
}

/* A positive integer argument, or exit. */
static inline unsigned long positive_arg(const char *text, const char *what) {
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v == 0) {
        fprintf(stderr, "%s must be a positive integer, not '%s'\n", what, text);
        exit(2);
    }
    return v;
}

/* A message size argument: 0 to INT_MAX (zmq_send reports sizes as int), or exit. */
static inline size_t size_arg(const char *text) {
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (*text < '0' || *text > '9' || *end != '\0' || v > INT_MAX) {
        fprintf(stderr, "message size must be an integer from 0 to %d, not '%s'\n", INT_MAX,
                text);
        exit(2);
    }
    return v;
}

/* "# bound tcp://127.0.0.1:5555": the endpoint the socket listens on, flushed at once, so that
 * whoever started the process knows when the peer can connect (and to which port, if the
 * address asked for "*"). */
static inline void print_bound(void *socket) {
    char endpoint[256];
    size_t len = sizeof endpoint;
    MUST(zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, endpoint, &len) == 0);
    printf("# bound %s\n", endpoint);
    fflush(stdout);
}

/* A socket of `type` with LINGER 0 (the benchmarks wait for their messages themselves). */
static inline void *bench_socket(void *ctx, int type) {
    void *s = zmq_socket(ctx, type);
    MUST(s != NULL);
    int linger = 0;
    MUST(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) == 0);
    return s;
}

/* Receives one frame into `msg` and exits unless it has `size` bytes. */
static inline void receive_one(void *pull, zmq_msg_t *msg, size_t size) {
    int n = zmq_msg_recv(msg, pull, 0);
    MUST(n >= 0);
    if ((size_t)n != size) {
        fprintf(stderr, "received %d bytes, expected %zu\n", n, size);
        exit(1);
    }
}

/* The two-process tools' local side: a socket of `type` (default options) bound to
 * `endpoint`, announced with print_bound. */
static inline void *bound_socket(void *ctx, int type, const char *endpoint) {
    void *s = zmq_socket(ctx, type);
    MUST(s != NULL);
    MUST(zmq_bind(s, endpoint) == 0);
    print_bound(s);
    return s;
}

/* Sorts the `count` round-trip times in `each` (ns) and returns the upper median in µs, as
 * oxmq-bench takes it. */
static inline int by_value(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}
static inline double median_us(uint64_t *each, unsigned long count) {
    qsort(each, count, sizeof *each, by_value);
    return (double)each[count / 2] / 1e3;
}

/* The context of a case's second thread: over tcp and ipc a context of its own, as a second
 * process would have; over inproc the first one, as inproc requires. */
static inline void *peer_context(void *ctx, const char *transport) {
    if (strcmp(transport, "inproc") == 0) {
        return ctx;
    }
    void *peer = zmq_ctx_new();
    MUST(peer != NULL);
    return peer;
}

/* The optional last argument "pin": each side of the case on a CPU of its own, as oxmq-bench's
 * --pin places them (crates/oxmq-bench/src/pin.rs): the binding socket's thread, and the I/O
 * thread its context starts from it (with the first socket, inheriting its CPU mask), on the
 * first CPU the process may use; the connecting side's on the second. Pinned runs are steady
 * to a few percent, so that the C ABI and the Rust API can be compared on a noisy machine. */
static inline int pin_arg(int argc, char **argv, int args) {
    if (argc == args + 1 && strcmp(argv[args], "pin") == 0) {
        return 1;
    }
    if (argc != args) {
        fprintf(stderr, "usage: %s tcp|ipc|inproc SIZE COUNT [pin]\n", argv[0]);
        exit(2);
    }
    return 0;
}

/* Puts the calling thread on the `side`-th (0 or 1) CPU of the process's mask as it was at the
 * first call; exits when the process may use fewer than two. */
static inline void pin_side(int side) {
    static int cpus[2] = {-1, -1};
    if (cpus[0] < 0) {
        cpu_set_t mask;
        MUST(sched_getaffinity(0, sizeof mask, &mask) == 0);
        for (int cpu = 0, n = 0; cpu < CPU_SETSIZE && n < 2; cpu++) {
            if (CPU_ISSET(cpu, &mask)) {
                cpus[n++] = cpu;
            }
        }
        if (cpus[1] < 0) {
            fprintf(stderr, "pin needs two CPUs\n");
            exit(2);
        }
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[side], &one);
    MUST(pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0);
}

#endif
