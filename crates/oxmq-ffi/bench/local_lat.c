/* REQ/REP latency between two processes, echoing side; pairs with remote_lat.
 *
 *   local_lat BIND-TO MESSAGE-SIZE ROUNDTRIP-COUNT
 *
 * The arguments are those of libzmq's perf/local_lat. A REP binds BIND-TO and answers
 * ROUNDTRIP-COUNT requests, each of which must be MESSAGE-SIZE bytes, by sending the same
 * message back (zmq_msg_recv, then zmq_msg_send). The socket keeps the default LINGER, so the
 * last reply is delivered before zmq_ctx_term returns. No timeouts (the caller bounds the run);
 * the timing is remote_lat's.
 *
 * Prints "# library ..." and "# bound ENDPOINT" (see common.h) as soon as they are known, then
 * one line for scripts:
 *   local_lat size=16 count=10000 elapsed_s=0.652
 * elapsed_s runs from the first request to the last reply handed to ZeroMQ. Exits 1 on any
 * failed call or wrong-sized request, 2 on bad arguments. */
#include "common.h" /* first: it defines _GNU_SOURCE */

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s BIND-TO MESSAGE-SIZE ROUNDTRIP-COUNT\n", argv[0]);
        return 2;
    }
    const char *bind_to = argv[1];
    size_t size = size_arg(argv[2]);
    unsigned long count = positive_arg(argv[3], "roundtrip count");
    print_library();

    void *ctx = zmq_ctx_new();
    MUST(ctx != NULL);
    void *rep = bound_socket(ctx, ZMQ_REP, bind_to);

    zmq_msg_t msg;
    MUST(zmq_msg_init(&msg) == 0);
    uint64_t start = 0;
    for (unsigned long i = 0; i < count; i++) {
        int n = zmq_msg_recv(&msg, rep, 0);
        MUST(n >= 0);
        if (i == 0) {
            start = now_ns();
        }
        if ((size_t)n != size) {
            fprintf(stderr, "request of %d bytes, expected %zu\n", n, size);
            return 1;
        }
        MUST(zmq_msg_send(&msg, rep, 0) == n);
    }
    double secs = (double)(now_ns() - start) / 1e9;
    MUST(zmq_msg_close(&msg) == 0);
    MUST(zmq_close(rep) == 0);
    MUST(zmq_ctx_term(ctx) == 0);
    remove_ipc_file(bind_to);

    printf("message size:    %zu B\n", size);
    printf("roundtrip count: %lu\n", count);
    printf("local_lat size=%zu count=%lu elapsed_s=%.6f\n", size, count, secs);
    return 0;
}
