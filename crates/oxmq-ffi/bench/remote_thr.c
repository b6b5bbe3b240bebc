/* PUSH/PULL throughput between two processes, sending side; pairs with local_thr.
 *
 *   remote_thr CONNECT-TO MESSAGE-SIZE MESSAGE-COUNT
 *
 * The arguments are those of libzmq's perf/remote_thr. A PUSH connects to CONNECT-TO and
 * sends MESSAGE-COUNT messages of MESSAGE-SIZE bytes with zmq_send (a fresh message per send,
 * the body copied in). It may start before local_thr has bound: ZeroMQ keeps retrying the
 * connection over tcp and ipc, and the messages wait in the pipe meanwhile. Once all are
 * sent it waits for the receiver to hang up (a socket monitor's ZMQ_EVENT_DISCONNECTED;
 * local_thr, like libzmq's, closes once it has every message), then closes with the default
 * LINGER (wait forever). Waiting matters over ipc: libzmq 4.3's receiving side can drop what
 * it has not yet taken in when the sender disconnects first (libzmq issue #4660), and its
 * local_thr then waits for ever. No timeouts: the caller bounds the run.
 *
 * Prints "# library ..." (see common.h), the figures for people, then one line for scripts:
 *   remote_thr size=16 count=1000000 elapsed_s=0.431
 * elapsed_s runs from the first send to the receiver's hang-up (connection set-up included):
 * the receiving side's figure is the one to quote. Exits 1 on any failed call, 2 on bad
 * arguments. */
#include "common.h" /* first: it defines _GNU_SOURCE */

/* The monitor's inproc address; one PUSH per process, so one name will do. */
#define MONITOR "inproc://remote-thr-monitor"

/* Reads monitor events (a frame holding the 16-bit event and a 32-bit value, then one holding
 * the endpoint) until the peer has disconnected. */
static void wait_for_hang_up(void *monitor) {
    zmq_msg_t frame;
    MUST(zmq_msg_init(&frame) == 0);
    for (;;) {
        MUST(zmq_msg_recv(&frame, monitor, 0) >= 0);
        uint16_t event = 0;
        if (zmq_msg_size(&frame) >= sizeof event) {
            memcpy(&event, zmq_msg_data(&frame), sizeof event);
        }
        MUST(zmq_msg_more(&frame));
        MUST(zmq_msg_recv(&frame, monitor, 0) >= 0);
        if (event == ZMQ_EVENT_DISCONNECTED) {
            break;
        }
    }
    MUST(zmq_msg_close(&frame) == 0);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s CONNECT-TO MESSAGE-SIZE MESSAGE-COUNT\n", argv[0]);
        return 2;
    }
    const char *connect_to = argv[1];
    size_t size = size_arg(argv[2]);
    unsigned long count = positive_arg(argv[3], "message count");
    print_library();

    /* malloc(0) may return NULL; one byte more costs nothing. */
    char *body = malloc(size + 1);
    MUST(body != NULL);
    memset(body, 0x5a, size);

    void *ctx = zmq_ctx_new();
    MUST(ctx != NULL);
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    MUST(push != NULL);
    MUST(zmq_socket_monitor(push, MONITOR, ZMQ_EVENT_DISCONNECTED) == 0);
    void *monitor = zmq_socket(ctx, ZMQ_PAIR);
    MUST(monitor != NULL);
    MUST(zmq_connect(monitor, MONITOR) == 0);
    MUST(zmq_connect(push, connect_to) == 0);

    uint64_t start = now_ns();
    for (unsigned long i = 0; i < count; i++) {
        MUST(zmq_send(push, body, size, 0) == (int)size);
    }
    wait_for_hang_up(monitor);
    MUST(zmq_socket_monitor(push, NULL, 0) == 0);
    MUST(zmq_close(monitor) == 0);
    MUST(zmq_close(push) == 0);
    MUST(zmq_ctx_term(ctx) == 0);
    double secs = (double)(now_ns() - start) / 1e9;
    free(body);

    printf("message size:    %zu B\n", size);
    printf("message count:   %lu\n", count);
    printf("elapsed:         %.6f s, first send to the receiver's hang-up\n", secs);
    printf("remote_thr size=%zu count=%lu elapsed_s=%.6f\n", size, count, secs);
    return 0;
}
