/* CHECK(cond): on failure, print where and zmq_errno's text to stderr and exit 1. Shared by the
 * C test programs. */
#ifndef OXMQ_TEST_CHECK_H
#define OXMQ_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s (errno %d: %s)\n", __FILE__, __LINE__, #cond,  \
                    zmq_errno(), zmq_strerror(zmq_errno()));                               \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#endif
