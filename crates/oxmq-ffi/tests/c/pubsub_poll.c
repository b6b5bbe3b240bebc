/* PUB/SUB filtering, zmq_poll over sockets and a pipe, ZMQ_FD/ZMQ_EVENTS, monitor events,
 * timers, atomic counters. Prints one line per check; exits non-zero at the first failure. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "check.h"

static void tick(int id, void *arg) {
    (void)id;
    (*(int *)arg)++;
}

int main(void) {
    void *ctx = zmq_ctx_new();
    CHECK(ctx);

    /* A monitored PUB. */
    void *pub = zmq_socket(ctx, ZMQ_PUB);
    CHECK(zmq_socket_monitor(pub, "inproc://c-monitor", ZMQ_EVENT_ALL) == 0);
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    CHECK(zmq_connect(mon, "inproc://c-monitor") == 0);
    CHECK(zmq_bind(pub, "tcp://127.0.0.1:*") == 0);
    char endpoint[256];
    size_t len = sizeof endpoint;
    CHECK(zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, endpoint, &len) == 0);

    /* The first event is LISTENING: two frames, a 6-byte header then the endpoint. */
    zmq_msg_t ev;
    zmq_msg_init(&ev);
    CHECK(zmq_msg_recv(&ev, mon, 0) == 6);
    uint16_t event;
    memcpy(&event, zmq_msg_data(&ev), 2);
    CHECK(event == ZMQ_EVENT_LISTENING);
    CHECK(zmq_msg_more(&ev));
    CHECK(zmq_msg_recv(&ev, mon, 0) == (int)strlen(endpoint));
    zmq_msg_close(&ev);
    printf("monitor: LISTENING\n");

    void *sub = zmq_socket(ctx, ZMQ_SUB);
    CHECK(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "A", 1) == 0);
    CHECK(zmq_connect(sub, endpoint) == 0);

    /* Publish until the subscription has arrived, polling the SUB. */
    zmq_pollitem_t items[2];
    int pipefd[2];
    CHECK(pipe(pipefd) == 0);
    items[0].socket = sub;
    items[0].fd = 0;
    items[0].events = ZMQ_POLLIN;
    items[1].socket = NULL;
    items[1].fd = pipefd[0];
    items[1].events = ZMQ_POLLIN;
    int got = 0;
    for (int i = 0; i < 500 && !got; i++) {
        CHECK(zmq_send(pub, "B-skip", 6, 0) == 6);
        CHECK(zmq_send(pub, "A-take", 6, 0) == 6);
        int n = zmq_poll(items, 2, 10);
        CHECK(n >= 0);
        if (items[0].revents & ZMQ_POLLIN) {
            char buf[16];
            int size = zmq_recv(sub, buf, sizeof buf, 0);
            CHECK(size == 6 && memcmp(buf, "A-take", 6) == 0);
            got = 1;
        }
        CHECK(!(items[1].revents & ZMQ_POLLIN));
    }
    CHECK(got);
    printf("pub/sub: filtered\n");

    /* The pipe, written, shows up in zmq_poll; the SUB, drained, does not. */
    while (zmq_recv(sub, NULL, 0, ZMQ_DONTWAIT) >= 0) {
    }
    CHECK(zmq_errno() == EAGAIN);
    CHECK(write(pipefd[1], "x", 1) == 1);
    CHECK(zmq_poll(items, 2, 1000) == 1);
    CHECK(items[1].revents & ZMQ_POLLIN);
    CHECK(!(items[0].revents & ZMQ_POLLIN));
    printf("poll: raw descriptor\n");

    /* ZMQ_FD and ZMQ_EVENTS: after a publish, the descriptor turns readable and EVENTS says
     * POLLIN. */
    int fd;
    len = sizeof fd;
    CHECK(zmq_getsockopt(sub, ZMQ_FD, &fd, &len) == 0 && len == sizeof fd);
    CHECK(zmq_send(pub, "A-again", 7, 0) == 7);
    int events = 0;
    for (int i = 0; i < 200 && !(events & ZMQ_POLLIN); i++) {
        len = sizeof events;
        CHECK(zmq_getsockopt(sub, ZMQ_EVENTS, &events, &len) == 0);
        if (!(events & ZMQ_POLLIN)) {
            struct pollfd p = {fd, POLLIN, 0};
            poll(&p, 1, 10);
        }
    }
    CHECK(events & ZMQ_POLLIN);
    printf("ZMQ_FD/ZMQ_EVENTS: readable\n");

    /* Timers: a 1 ms timer fires once zmq_timers_timeout has passed. */
    void *timers = zmq_timers_new();
    int ticks = 0;
    int id = zmq_timers_add(timers, 1, tick, &ticks);
    CHECK(id > 0);
    long wait = zmq_timers_timeout(timers);
    CHECK(wait >= 0 && wait <= 1);
    usleep(2000);
    CHECK(zmq_timers_execute(timers) == 0);
    CHECK(ticks == 1);
    CHECK(zmq_timers_cancel(timers, id) == 0);
    CHECK(zmq_timers_timeout(timers) == -1);
    CHECK(zmq_timers_destroy(&timers) == 0 && timers == NULL);
    printf("timers: fired once\n");

    /* Atomic counters. */
    void *counter = zmq_atomic_counter_new();
    zmq_atomic_counter_set(counter, 2);
    CHECK(zmq_atomic_counter_inc(counter) == 2);
    CHECK(zmq_atomic_counter_dec(counter) == 1);
    CHECK(zmq_atomic_counter_dec(counter) == 1);
    CHECK(zmq_atomic_counter_dec(counter) == 0);
    CHECK(zmq_atomic_counter_value(counter) == 0);
    zmq_atomic_counter_destroy(&counter);
    CHECK(counter == NULL);
    printf("atomic counter: ok\n");

    int linger = 0;
    CHECK(zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger) == 0);
    CHECK(zmq_close(sub) == 0);
    CHECK(zmq_close(pub) == 0);
    CHECK(zmq_close(mon) == 0);
    close(pipefd[0]);
    close(pipefd[1]);
    CHECK(zmq_ctx_term(ctx) == 0);
    printf("done\n");
    return 0;
}
