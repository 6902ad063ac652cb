/*
 * send_fixture.h - unit tests' stand-in for a send statement's result:
 * rows shaped like msg_send_stmt's (MSG_COLS, then fresh), built with
 * libpq's result constructors (no server).
 */
#ifndef TESTS_SEND_FIXTURE_H
#define TESTS_SEND_FIXTURE_H

#include "message.h"

#include <libpq-fe.h>
#include <string.h>

/* A result of MSG_NCOLS + 1 text columns and no rows yet (NULL: out of memory). */
static inline PGresult *send_fixture_new(void)
{
    PGresAttDesc attrs[MSG_NCOLS + 1];
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

    memset(attrs, 0, sizeof(attrs));
    for (int i = 0; i <= MSG_NCOLS; i++) {
        attrs[i].name = (char *)"c";
        attrs[i].typid = 25; /* text */
        attrs[i].typlen = -1;
    }
    if (r != NULL && !PQsetResultAttrs(r, MSG_NCOLS + 1, attrs)) {
        PQclear(r);
        r = NULL;
    }
    return r;
}

/* Set row `row` to vals[0..MSG_NCOLS] (NULL entries are SQL NULL). Returns 1, or 0 on failure. */
static inline int send_fixture_row(PGresult *r, int row, const char *const *vals)
{
    for (int i = 0; i <= MSG_NCOLS; i++)
        if (!PQsetvalue(r, row, i, (char *)vals[i], vals[i] ? (int)strlen(vals[i]) : -1))
            return 0;
    return 1;
}

#endif
