/* REQ/REP latency between two processes, timing side; pairs with local_lat.
 *
 *   remote_lat CONNECT-TO MESSAGE-SIZE ROUNDTRIP-COUNT
 *
 * The arguments are those of libzmq's perf/remote_lat. A REQ connects to CONNECT-TO and makes
 * ROUNDTRIP-COUNT round trips: zmq_send of MESSAGE-SIZE bytes, zmq_msg_recv of the reply, which
 * must be as long. There are no untimed round trips, so that local_lat and libzmq's own
 * local_lat agree on the count; start this side once the other has bound (the "# bound" line),
 * or the first round trip also carries ZeroMQ's reconnection delay (100 ms by default). Each
 * round trip is timed on its own. No timeouts (the caller bounds the run).
 *
 * Prints "# library ..." (see common.h), the figures for people, then one line for scripts:
 *   remote_lat size=16 count=10000 rtt_mean_us=61.30 rtt_p50_us=58.90 latency_us=30.65
 * rtt_mean_us is the mean round trip and rtt_p50_us its (upper) median; latency_us is half
 * the mean round trip, the figure libzmq's remote_lat reports as its latency. Exits 1 on any
 * failed call or wrong-sized reply, 2 on bad arguments. */
#include "common.h" /* first: it defines _GNU_SOURCE */

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s CONNECT-TO MESSAGE-SIZE ROUNDTRIP-COUNT\n", argv[0]);
        return 2;
    }
    const char *connect_to = argv[1];
    size_t size = size_arg(argv[2]);
    unsigned long count = positive_arg(argv[3], "roundtrip count");
    print_library();

    /* malloc(0) may return NULL; one byte more costs nothing. */
    char *body = malloc(size + 1);
    uint64_t *each = malloc(count * sizeof *each);
    MUST(body != NULL && each != NULL);
    memset(body, 0xa5, size);

    void *ctx = zmq_ctx_new();
    MUST(ctx != NULL);
    void *req = zmq_socket(ctx, ZMQ_REQ);
    MUST(req != NULL);
    MUST(zmq_connect(req, connect_to) == 0);

    zmq_msg_t reply;
    MUST(zmq_msg_init(&reply) == 0);
    uint64_t start = now_ns(), last = start;
    for (unsigned long i = 0; i < count; i++) {
        MUST(zmq_send(req, body, size, 0) == (int)size);
        int n = zmq_msg_recv(&reply, req, 0);
        MUST(n >= 0);
        if ((size_t)n != size) {
            fprintf(stderr, "reply of %d bytes, expected %zu\n", n, size);
            return 1;
        }
        uint64_t now = now_ns();
        each[i] = now - last;
        last = now;
    }
    MUST(zmq_msg_close(&reply) == 0);
    MUST(zmq_close(req) == 0);
    MUST(zmq_ctx_term(ctx) == 0);

    double rtt_mean_us = (double)(last - start) / 1e3 / (double)count;
    double rtt_p50_us = median_us(each, count);
    printf("message size:    %zu B\n", size);
    printf("roundtrip count: %lu\n", count);
    printf("latency:         %.3f us, one way: half the mean round trip (libzmq's figure)\n",
           rtt_mean_us / 2);
    printf("round trip:      %.3f us mean, %.3f us median\n", rtt_mean_us, rtt_p50_us);
    printf("remote_lat size=%zu count=%lu rtt_mean_us=%.3f rtt_p50_us=%.3f latency_us=%.3f\n",
           size, count, rtt_mean_us, rtt_p50_us, rtt_mean_us / 2);
    free(each);
    free(body);
    return 0;
}
