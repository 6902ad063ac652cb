/*
 * stream.h - the stream reader: every shard stream of Redis, read with
 * one blocking XREAD at a time on the stream link from the last entry ids
 * seen, each event handed to fanout_dispatch().
 */
#ifndef GW_STREAM_H
#define GW_STREAM_H

/* Read from now on (explicit ids, so nothing between two XREADs is skipped); free the ids. */
void stream_start(void);
void stream_stop(void);

/* The stream link's state callback (rlink_state_cb): re-issues XREAD when up. */
void stream_on_link(int up, void *arg);

#endif
