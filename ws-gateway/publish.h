/*
 * publish.h - the gateway's outbound events: what its clients did, as
 * entries on the conversation's stream (and, for a message, its cache),
 * written on the command link with the same commands chat-api pipelines
 * (common/events.h describes them once for both). Fire and forget: the
 * replies are not read, and a publish while Redis is down is lost (the
 * receivers notice the gap by seq and catch up from PostgreSQL).
 */
#ifndef GW_PUBLISH_H
#define GW_PUBLISH_H

#include <jansson.h>
#include <stdbool.h>

void publish_event(const char *conv_id, json_t *ev /* stolen */);

/* A stored message: its event and the conversation's cache, serialised once. */
void publish_message(const char *conv_id, long long seq, json_t *msg /* borrowed */);

/*
 * A change of a stored message at seq: its event ev (borrowed; change_event()) and the cache's
 * update to msg (borrowed: the message as it is now).
 */
void publish_change(const char *conv_id, long long seq, const json_t *ev, const json_t *msg);

/* A typing change: the conversation's typing set, then its event. */
void publish_typing(const char *conv_id, const char *user_id, bool typing);

#endif
