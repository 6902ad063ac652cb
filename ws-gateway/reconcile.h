/*
 * reconcile.h - the backstop of delivery: local subscriptions compared
 * with PostgreSQL, the truth, so that no committed message waits for a
 * later one to be noticed.
 */
#ifndef GW_RECONCILE_H
#define GW_RECONCILE_H

#include <stdbool.h>

/* Start and stop the rounds (every RECONCILE_MS). */
void reconcile_start(void);
void reconcile_stop(void);

/*
 * A round now. immediate: a subscription found behind is caught up at
 * once instead of after a round's grace (the stream link just came back:
 * what was published while it was down may be gone).
 */
void reconcile_now(bool immediate);

#endif
