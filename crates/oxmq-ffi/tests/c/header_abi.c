/* SPDX-License-Identifier: MPL-2.0 */
/*
 * Compile-time checks of the layouts and a few values declared by oxmq's
 * zmq.h. Build (C11 for _Static_assert and _Alignof), with and without
 * -DZMQ_BUILD_DRAFT_API:
 *
 *   cc -std=c11 -Wall -Wextra -pedantic \
 *      crates/oxmq-ffi/tests/c/header_abi.c -o header_abi && ./header_abi
 *
 * Compiling is the test; running it only prints what was checked.
 */

/* The header under test, whatever the include path says. */
#include "../../include/zmq.h"

#include <stddef.h>
#include <stdio.h>

/* zmq_msg_t: 64 opaque bytes, aligned like a pointer. */
_Static_assert (sizeof (zmq_msg_t) == 64, "zmq_msg_t must be 64 bytes");
_Static_assert (_Alignof (zmq_msg_t) == sizeof (void *),
                "zmq_msg_t must be aligned like a pointer");
_Static_assert (_Alignof (zmq_msg_t) == _Alignof (void *),
                "zmq_msg_t must have a pointer's alignment");

/* zmq_pollitem_t: socket, fd, events, revents, in that order, with the
 * platform's natural padding. */
_Static_assert (offsetof (zmq_pollitem_t, socket) == 0, "pollitem.socket");
_Static_assert (offsetof (zmq_pollitem_t, fd) == sizeof (void *),
                "pollitem.fd follows the pointer");
_Static_assert (offsetof (zmq_pollitem_t, events)
                  == sizeof (void *) + sizeof (zmq_fd_t),
                "pollitem.events follows fd");
_Static_assert (offsetof (zmq_pollitem_t, revents)
                  == offsetof (zmq_pollitem_t, events) + sizeof (short),
                "pollitem.revents follows events");
#if !defined _WIN32
_Static_assert (sizeof (zmq_fd_t) == sizeof (int), "zmq_fd_t is int");
#else
_Static_assert (sizeof (zmq_fd_t) == sizeof (void *),
                "zmq_fd_t is as wide as SOCKET");
#endif

/* The callback types are function types, used through pointers. */
static void free_cb (void *data, void *hint)
{
    (void) data;
    (void) hint;
}
static void timer_cb (int timer_id, void *arg)
{
    (void) timer_id;
    (void) arg;
}
static void thread_cb (void *arg)
{
    (void) arg;
}
static zmq_free_fn *const free_fn_ok = free_cb;
static zmq_timer_fn *const timer_fn_ok = timer_cb;
static zmq_thread_fn *const thread_fn_ok = thread_cb;

/* Values that are easy to get wrong. */
_Static_assert (ZMQ_VERSION == 40305, "interface version 4.3.5");
_Static_assert (ZMQ_MAKE_VERSION (4, 3, 5) == 40305, "ZMQ_MAKE_VERSION");
_Static_assert (ZMQ_HAUSNUMERO == 156384712, "ZMQ_HAUSNUMERO");
_Static_assert (EFSM == 156384763, "EFSM");
_Static_assert (ENOCOMPATPROTO == 156384764, "ENOCOMPATPROTO");
_Static_assert (ETERM == 156384765, "ETERM");
_Static_assert (EMTHREAD == 156384766, "EMTHREAD");
_Static_assert (ZMQ_XREQ == ZMQ_DEALER && ZMQ_XREP == ZMQ_ROUTER, "aliases");
_Static_assert (ZMQ_IDENTITY == 5 && ZMQ_CONNECT_RID == 61, "aliases");
_Static_assert (ZMQ_NOBLOCK == ZMQ_DONTWAIT, "ZMQ_NOBLOCK");
_Static_assert (ZMQ_SRCFD == 2 && ZMQ_MORE == 1 && ZMQ_SHARED == 3,
                "message properties");
_Static_assert (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH == 0x4000, "events");
_Static_assert (ZMQ_PROTOCOL_ERROR_WS_UNSPECIFIED == 0x30000000,
                "protocol errors");

#ifdef ZMQ_BUILD_DRAFT_API
/* zmq_poller_event_t: socket, fd, user_data, events. */
_Static_assert (offsetof (zmq_poller_event_t, socket) == 0, "event.socket");
_Static_assert (offsetof (zmq_poller_event_t, fd) == sizeof (void *),
                "event.fd");
_Static_assert (offsetof (zmq_poller_event_t, user_data)
                  == 2 * sizeof (void *),
                "event.user_data is pointer-aligned after fd");
_Static_assert (offsetof (zmq_poller_event_t, events) == 3 * sizeof (void *),
                "event.events");
_Static_assert (ZMQ_TOPICS_COUNT == 116 && ZMQ_NORM_PUSH == 124,
                "draft options");
_Static_assert (ZMQ_RECONNECT_STOP_AFTER_DISCONNECT == 0x4,
                "4.3.5 value of ZMQ_RECONNECT_STOP_AFTER_DISCONNECT");
_Static_assert (ZMQ_EVENT_ALL_V2 == 0x1FFFF, "ZMQ_EVENT_ALL_V2");
_Static_assert (sizeof (ZMQ_MSG_PROPERTY_PEER_ADDRESS) == 13,
                "property names are string literals");
#endif

int main (void)
{
    printf ("sizeof(zmq_msg_t)=%zu alignof(zmq_msg_t)=%zu "
            "sizeof(zmq_pollitem_t)=%zu",
            sizeof (zmq_msg_t), _Alignof (zmq_msg_t),
            sizeof (zmq_pollitem_t));
#ifdef ZMQ_BUILD_DRAFT_API
    printf (" sizeof(zmq_poller_event_t)=%zu", sizeof (zmq_poller_event_t));
#endif
    printf ("\n");
    return (free_fn_ok && timer_fn_ok && thread_fn_ok) ? 0 : 1;
}
