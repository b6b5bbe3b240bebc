/* REQ/REP round-trip latency through libzmq's C API, the C twin of oxmq-bench's latency case.
 *
 *   lat tcp|ipc|inproc SIZE COUNT [pin]
 *
 * A REP binds (tcp://127.0.0.1:*, a fresh ipc path, or inproc), over tcp and ipc in a context
 * of its own as a second process would have (over inproc in the REQ's, as inproc requires),
 * and a second thread echoes every request back (zmq_msg_recv, then zmq_msg_send of the same
 * message). The main thread's REQ connects, makes 100 untimed round trips, then COUNT timed
 * ones: zmq_send of SIZE bytes, zmq_msg_recv of the reply, each round trip timed on its own.
 * LINGER 0, no timeouts (the caller bounds the run). With "pin", the REP's side (its thread
 * and its context's I/O thread) runs on the first CPU the process may use and the REQ's on the
 * second, as `oxmq bench --pin` places them.
 *
 * Prints "# library ..." (see common.h), then one line, in µs per round trip (libzmq's
 * remote_lat prints half a round trip):
 *   lat transport=tcp size=16 count=20000 mean_us=61.3 p50_us=58.9
 * Exits non-zero on any error or wrong-sized reply. */
#include "common.h" /* first: it defines _GNU_SOURCE */

#include <pthread.h>

/* Untimed round trips first, as oxmq-bench makes. */
#define WARMUP 100

struct echo {
    void *rep;
    unsigned long round_trips;
};

static void *echo_all(void *arg) {
    struct echo *job = arg;
    zmq_msg_t msg;
    MUST(zmq_msg_init(&msg) == 0);
    for (unsigned long i = 0; i < job->round_trips; i++) {
        MUST(zmq_msg_recv(&msg, job->rep, 0) >= 0);
        MUST(zmq_msg_send(&msg, job->rep, 0) >= 0);
    }
    MUST(zmq_msg_close(&msg) == 0);
    return NULL;
}

static void round_trip(void *req, const char *body, size_t size, zmq_msg_t *reply) {
    MUST(zmq_send(req, body, size, 0) == (int)size);
    int n = zmq_msg_recv(reply, req, 0);
    MUST(n >= 0);
    if ((size_t)n != size) {
        fprintf(stderr, "reply of %d bytes, expected %zu\n", n, size);
        exit(1);
    }
}

int main(int argc, char **argv) {
    int pin = pin_arg(argc, argv, 4);
    const char *transport = argv[1];
    size_t size = positive_arg(argv[2], "SIZE");
    unsigned long count = positive_arg(argv[3], "COUNT");
    if (size > INT_MAX) {
        fprintf(stderr, "SIZE must be at most %d\n", INT_MAX);
        return 2;
    }
    print_library();

    char address[256], endpoint[256];
    bind_address(transport, address, sizeof address);
    if (pin) {
        /* The REP side first: its thread inherits this mask, and so does the I/O thread its
         * socket starts (inproc: the only one). */
        pin_side(0);
    }
    void *ctx = zmq_ctx_new();
    MUST(ctx != NULL);
    void *server_ctx = peer_context(ctx, transport);
    struct echo job = {bench_socket(server_ctx, ZMQ_REP), WARMUP + count};
    MUST(zmq_bind(job.rep, address) == 0);
    size_t len = sizeof endpoint;
    MUST(zmq_getsockopt(job.rep, ZMQ_LAST_ENDPOINT, endpoint, &len) == 0);
    /* From here on only the echo thread uses the REP (pthread_create is a full barrier). */
    pthread_t server;
    MUST(pthread_create(&server, NULL, echo_all, &job) == 0);

    if (pin) {
        pin_side(1);
    }
    void *req = bench_socket(ctx, ZMQ_REQ);
    MUST(zmq_connect(req, endpoint) == 0);
    char *body = malloc(size);
    uint64_t *each = malloc(count * sizeof *each);
    MUST(body != NULL && each != NULL);
    memset(body, 0xa5, size);
    zmq_msg_t reply;
    MUST(zmq_msg_init(&reply) == 0);
    for (int i = 0; i < WARMUP; i++) {
        round_trip(req, body, size, &reply);
    }
    uint64_t start = now_ns(), last = start;
    for (unsigned long i = 0; i < count; i++) {
        round_trip(req, body, size, &reply);
        uint64_t now = now_ns();
        each[i] = now - last;
        last = now;
    }
    MUST(zmq_msg_close(&reply) == 0);

    MUST(pthread_join(server, NULL) == 0);
    MUST(zmq_close(req) == 0);
    MUST(zmq_close(job.rep) == 0);
    if (server_ctx != ctx) {
        MUST(zmq_ctx_term(server_ctx) == 0);
    }
    MUST(zmq_ctx_term(ctx) == 0);
    remove_ipc_file(address);

    double mean_us = (double)(last - start) / 1e3 / (double)count;
    double p50_us = median_us(each, count);
    printf("lat transport=%s size=%zu count=%lu mean_us=%.2f p50_us=%.2f\n", transport, size,
           count, mean_us, p50_us);
    free(each);
    free(body);
    return 0;
}
