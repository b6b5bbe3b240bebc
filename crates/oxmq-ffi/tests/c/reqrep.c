/* REQ/REP over inproc and tcp through the C API: zmq_send/zmq_recv, the zmq_msg_* family,
 * options, errno for misuse. Prints one line per check; exits non-zero at the first failure. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "check.h"

static void free_counted(void *data, void *hint) {
    free(data);
    (*(int *)hint)++;
}

static void round_trip(void *ctx, const char *bind_ep) {
    void *rep = zmq_socket(ctx, ZMQ_REP);
    void *req = zmq_socket(ctx, ZMQ_REQ);
    CHECK(rep && req);
    int timeout = 5000;
    CHECK(zmq_setsockopt(req, ZMQ_RCVTIMEO, &timeout, sizeof timeout) == 0);
    CHECK(zmq_setsockopt(rep, ZMQ_RCVTIMEO, &timeout, sizeof timeout) == 0);
    CHECK(zmq_bind(rep, bind_ep) == 0);
    char endpoint[256];
    size_t len = sizeof endpoint;
    CHECK(zmq_getsockopt(rep, ZMQ_LAST_ENDPOINT, endpoint, &len) == 0);
    CHECK(len == strlen(endpoint) + 1);
    CHECK(zmq_connect(req, endpoint) == 0);

    /* zmq_send / zmq_recv, with truncation reporting the full size. */
    CHECK(zmq_send(req, "hello", 5, 0) == 5);
    char buf[3];
    CHECK(zmq_recv(rep, buf, sizeof buf, 0) == 5);
    CHECK(memcmp(buf, "hel", 3) == 0);

    /* A two-frame reply built with zmq_msg_init_size and zmq_msg_init_data. */
    zmq_msg_t part;
    CHECK(zmq_msg_init_size(&part, 100) == 0);
    memset(zmq_msg_data(&part), 'x', 100);
    CHECK(zmq_msg_send(&part, rep, ZMQ_SNDMORE) == 100);
    CHECK(zmq_msg_size(&part) == 0); /* emptied by a successful send */
    CHECK(zmq_msg_close(&part) == 0);
    int freed = 0;
    char *owned = malloc(4);
    memcpy(owned, "tail", 4);
    CHECK(zmq_msg_init_data(&part, owned, 4, free_counted, &freed) == 0);
    CHECK(zmq_msg_data(&part) == owned);
    CHECK(zmq_msg_send(&part, rep, 0) == 4);
    CHECK(zmq_msg_close(&part) == 0);

    zmq_msg_t in;
    CHECK(zmq_msg_init(&in) == 0);
    CHECK(zmq_msg_recv(&in, req, 0) == 100);
    CHECK(zmq_msg_more(&in) == 1);
    CHECK(zmq_msg_get(&in, ZMQ_MORE) == 1);
    CHECK(((char *)zmq_msg_data(&in))[99] == 'x');
    CHECK(zmq_msg_recv(&in, req, 0) == 4);
    CHECK(zmq_msg_more(&in) == 0);
    CHECK(memcmp(zmq_msg_data(&in), "tail", 4) == 0);
    CHECK(zmq_msg_close(&in) == 0);

    /* REQ may not send twice. */
    CHECK(zmq_send(req, "a", 1, 0) == 1);
    CHECK(zmq_send(req, "b", 1, ZMQ_DONTWAIT) == -1 && zmq_errno() == EFSM);
    CHECK(zmq_recv(rep, buf, sizeof buf, 0) == 1);

    CHECK(zmq_close(req) == 0);
    CHECK(zmq_close(rep) == 0);
    CHECK(freed == 1);
    printf("round trip over %s: ok\n", bind_ep);
}

int main(void) {
    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    CHECK(major == 4 && minor == 3);
    printf("version %d.%d\n", major, minor);

    void *ctx = zmq_ctx_new();
    CHECK(ctx);
    CHECK(zmq_ctx_get(ctx, ZMQ_IO_THREADS) == 1);
    round_trip(ctx, "inproc://c-reqrep");
    round_trip(ctx, "tcp://127.0.0.1:*");

    /* Misuse is an error, not a crash. */
    CHECK(zmq_socket(ctx, 9999) == NULL && zmq_errno() == EINVAL);
    CHECK(zmq_close(NULL) == -1 && zmq_errno() == ENOTSOCK);
    CHECK(zmq_send(NULL, "x", 1, 0) == -1 && zmq_errno() == ENOTSOCK);
    CHECK(zmq_socket(NULL, ZMQ_REQ) == NULL && zmq_errno() == EFAULT);
    printf("misuse: ok\n");

    /* Z85 and CURVE keys. */
    char pub[41], sec[41], derived[41];
    CHECK(zmq_curve_keypair(pub, sec) == 0);
    CHECK(zmq_curve_public(derived, sec) == 0);
    CHECK(strcmp(pub, derived) == 0);
    uint8_t raw[32];
    CHECK(zmq_z85_decode(raw, pub) == raw);
    char again[41];
    CHECK(zmq_z85_encode(again, raw, 32) == again && strcmp(again, pub) == 0);
    printf("keys: ok\n");

    CHECK(zmq_ctx_term(ctx) == 0);
    printf("done\n");
    return 0;
}
