/* PUSH/PULL throughput through libzmq's C API, the C twin of oxmq-bench's throughput case.
 *
 *   thr tcp|ipc|inproc SIZE COUNT [pin]
 *
 * The main thread's PULL binds (tcp://127.0.0.1:*, a fresh ipc path, or inproc); a second
 * thread connects a PUSH, over tcp and ipc from a context of its own as a second process would
 * have (over inproc from the same one, as inproc requires), and sends COUNT
 * messages of SIZE bytes, each a fresh message with the body copied in (zmq_send). The PULL
 * receives them with zmq_msg_recv; the clock starts at the first message and stops at the
 * last, so rate = (COUNT - 1) / elapsed. Default HWMs, LINGER 0, no timeouts (the caller
 * bounds the run). The sender keeps its socket open until everything has arrived. With
 * "pin", the PULL's side (the main thread, and the I/O thread of its context) runs on the
 * first CPU the process may use and the PUSH's on the second, as `oxmq bench --pin` places
 * them.
 *
 * Prints "# library ..." (see common.h), then one line:
 *   thr transport=tcp size=16 count=2000000 elapsed_s=0.412 msg_s=4851234 mb_s=77.62
 * (MB = 10^6 bytes of payload). Exits non-zero on any error or wrong-sized message. */
#include "common.h" /* first: it defines _GNU_SOURCE */

#include <pthread.h>
#include <semaphore.h>

struct sender {
    void *ctx;
    char endpoint[256];
    size_t size;
    unsigned long count;
    int pin;
    sem_t all_received;
};

static void *send_all(void *arg) {
    struct sender *job = arg;
    if (job->pin) {
        pin_side(1);
    }
    void *push = bench_socket(job->ctx, ZMQ_PUSH);
    MUST(zmq_connect(push, job->endpoint) == 0);
    char *body = malloc(job->size);
    MUST(body != NULL);
    memset(body, 0x5a, job->size);
    for (unsigned long i = 0; i < job->count; i++) {
        MUST(zmq_send(push, body, job->size, 0) == (int)job->size);
    }
    while (sem_wait(&job->all_received) != 0) {
    }
    free(body);
    MUST(zmq_close(push) == 0);
    return NULL;
}

int main(int argc, char **argv) {
    struct sender job;
    job.pin = pin_arg(argc, argv, 4);
    const char *transport = argv[1];
    job.size = positive_arg(argv[2], "SIZE");
    job.count = positive_arg(argv[3], "COUNT");
    if (job.count < 2 || job.size > INT_MAX) {
        fprintf(stderr, "COUNT must be at least 2 and SIZE at most %d\n", INT_MAX);
        return 2;
    }
    print_library();

    char address[256];
    bind_address(transport, address, sizeof address);
    if (job.pin) {
        pin_side(0);
    }
    void *ctx = zmq_ctx_new();
    MUST(ctx != NULL);
    void *pull = bench_socket(ctx, ZMQ_PULL);
    MUST(zmq_bind(pull, address) == 0);
    size_t len = sizeof job.endpoint;
    MUST(zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, job.endpoint, &len) == 0);
    job.ctx = peer_context(ctx, transport);
    MUST(sem_init(&job.all_received, 0, 0) == 0);
    pthread_t sender;
    MUST(pthread_create(&sender, NULL, send_all, &job) == 0);

    zmq_msg_t msg;
    MUST(zmq_msg_init(&msg) == 0);
    receive_one(pull, &msg, job.size);
    uint64_t start = now_ns();
    for (unsigned long i = 1; i < job.count; i++) {
        receive_one(pull, &msg, job.size);
    }
    uint64_t elapsed_ns = now_ns() - start;
    MUST(zmq_msg_close(&msg) == 0);

    MUST(sem_post(&job.all_received) == 0);
    MUST(pthread_join(sender, NULL) == 0);
    MUST(zmq_close(pull) == 0);
    if (job.ctx != ctx) {
        MUST(zmq_ctx_term(job.ctx) == 0);
    }
    MUST(zmq_ctx_term(ctx) == 0);
    remove_ipc_file(address);

    double secs = (double)elapsed_ns / 1e9;
    double rate = secs > 0 ? (double)(job.count - 1) / secs : 0;
    printf("thr transport=%s size=%zu count=%lu elapsed_s=%.6f msg_s=%.0f mb_s=%.2f\n",
           transport, job.size, job.count, secs, rate, rate * (double)job.size / 1e6);
    return 0;
}
