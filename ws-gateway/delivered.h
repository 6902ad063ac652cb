/*
 * delivered.h - delivered watermarks, batched: a message written to a
 * recipient's socket moves conversation_members.delivered_seq up to it
 * (the REST read_status "delivered"), in one statement per flush window.
 */
#ifndef GW_DELIVERED_H
#define GW_DELIVERED_H

/* user_id's socket got message seq of conv_id. */
void delivered_mark(const char *conv_id, const char *user_id, long long seq);

/* Write the marks collected so far (at once; also every DELIVERED_FLUSH_MS). */
void delivered_flush(void);

/* The last flush, and the timer closed. */
void delivered_stop(void);

#endif
