/* PUSH/PULL throughput between two processes, receiving side; pairs with remote_thr.
 *
 *   local_thr BIND-TO MESSAGE-SIZE MESSAGE-COUNT
 *
 * The arguments are those of libzmq's perf/local_thr, so either program can stand in for the
 * other, and either side can run on any libzmq-compatible library (LD_LIBRARY_PATH picks it).
 * A PULL binds BIND-TO (e.g. tcp://127.0.0.1:5555, tcp://0.0.0.0:5555, ipc:///tmp/thr.ipc) and
 * receives MESSAGE-COUNT messages with zmq_msg_recv, each of which must be MESSAGE-SIZE bytes.
 * The clock starts when the first message arrives and stops at the last, so connection set-up
 * is not counted and rate = (COUNT - 1) / elapsed. Default HWMs, no timeouts (the caller
 * bounds the run).
 *
 * Prints "# library ..." and "# bound ENDPOINT" (see common.h) as soon as they are known, then
 * the figures for people, then one line for scripts:
 *   local_thr size=16 count=1000000 elapsed_s=0.412 msg_s=2427184 mb_s=38.83 mbit_s=310.68
 * (mb_s in 10^6 bytes of payload per second, mbit_s in 10^6 bits, the unit libzmq's tool
 * prints). Exits 1 on any failed call or wrong-sized message, 2 on bad arguments. */
#include "common.h" /* first: it defines _GNU_SOURCE */

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s BIND-TO MESSAGE-SIZE MESSAGE-COUNT  (COUNT >= 2)\n",
                argv[0]);
        return 2;
    }
    const char *bind_to = argv[1];
    size_t size = size_arg(argv[2]);
    unsigned long count = positive_arg(argv[3], "message count");
    if (count < 2) {
        fprintf(stderr, "message count must be at least 2: the clock runs from the first\n");
        return 2;
    }
    print_library();

    void *ctx = zmq_ctx_new();
    MUST(ctx != NULL);
    void *pull = bound_socket(ctx, ZMQ_PULL, bind_to);

    zmq_msg_t msg;
    MUST(zmq_msg_init(&msg) == 0);
    receive_one(pull, &msg, size);
    uint64_t start = now_ns();
    for (unsigned long i = 1; i < count; i++) {
        receive_one(pull, &msg, size);
    }
    uint64_t elapsed_ns = now_ns() - start;
    MUST(zmq_msg_close(&msg) == 0);
    MUST(zmq_close(pull) == 0);
    MUST(zmq_ctx_term(ctx) == 0);
    remove_ipc_file(bind_to);

    double secs = (double)elapsed_ns / 1e9;
    double rate = secs > 0 ? (double)(count - 1) / secs : 0;
    double mb = rate * (double)size / 1e6;
    printf("message size:    %zu B\n", size);
    printf("message count:   %lu\n", count);
    printf("elapsed:         %.6f s, first message to last\n", secs);
    printf("throughput:      %.0f msg/s\n", rate);
    printf("throughput:      %.2f Mb/s (megabits of payload)\n", mb * 8);
    printf("local_thr size=%zu count=%lu elapsed_s=%.6f msg_s=%.0f mb_s=%.2f mbit_s=%.2f\n", size,
           count, secs, rate, mb, mb * 8);
    return 0;
}
