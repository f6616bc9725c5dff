/* try.h - DAAS_TRY(call) for the project's own C programs (reliability/stress.c, capi/bench/bench.c):
 * on a status other than DAAS_OK, print the call, the status and the library's message to stderr and
 * return 1 from the calling function. examples/c/search.c keeps its own copy on purpose: an example
 * is meant to be read and copied on its own. */
#ifndef DAAS_TRY_H
#define DAAS_TRY_H

#include <stdio.h>

#include "daas.h"

#define DAAS_TRY(call)                                                                             \
    do {                                                                                           \
        daas_status st_ = (call);                                                                  \
        if (st_ != DAAS_OK) {                                                                      \
            fprintf(stderr, "%s: %s: %s\n", #call, daas_status_string(st_), daas_last_error_message()); \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#endif
