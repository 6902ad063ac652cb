/*
 * events.h - the Redis side of the contract between chat-api and the
 * gateways: key names, stream sharding, event JSON, and the message cache.
 * docs/ARCHITECTURE.md describes the same contract in prose; keep both in
 * step.
 *
 * Streams: every event about conversation C goes to stream
 * "chat:events:{shard}" with shard = fnv1a(C) % STREAM_SHARDS, as one entry
 * whose field "e" holds the event JSON. Every gateway reads every shard
 * (XREAD, no consumer group: each gateway needs every event) and delivers
 * to its local sockets; per-conversation seq numbers let it detect gaps.
 */
#ifndef CHAT_EVENTS_H
#define CHAT_EVENTS_H

#include "rds.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define EV_STREAM_PREFIX "chat:events:"
#define EV_STREAM_MAXLEN "100000" /* approximate trim (XADD MAXLEN ~) */
#define EV_CACHE_SIZE 50          /* messages kept per conversation */
#define EV_CACHE_TTL_SECONDS "86400"
#define EV_ONLINE_KEY "chat:online" /* ZSET user_id -> expiry (epoch ms) */
#define EV_TYPING_TTL_MS 5000
#define EV_TYPING_KEY_TTL_MS "10000" /* the whole set: twice an entry's */

#define EV_KEY_MAX 96

uint32_t ev_hash(const char *s);
int ev_shard(const char *conversation_id, int nshards);
void ev_stream_key(int shard, char out[EV_KEY_MAX]);
void ev_cache_key(const char *conversation_id, char out[EV_KEY_MAX]);  /* chat:recent:{id} */
void ev_typing_key(const char *conversation_id, char out[EV_KEY_MAX]); /* chat:typing:{id} */
void ev_presence_key(const char *user_id, char out[EV_KEY_MAX]);       /* chat:presence:{id} */

/* Wall clock in epoch milliseconds (scores of expiring ZSET members). */
int64_t ev_epoch_ms(void);

/*
 * Event constructors. Each returns a new object:
 *   {"type":"message","conversation_id","seq","message":{...}}
 *   {"type":"typing","conversation_id","user_id","is_typing"}
 *   {"type":"read","conversation_id","user_id","seq","message_id"}
 */
json_t *ev_message(const char *conversation_id, long long seq, json_t *message /* borrowed */);

/*
 * The message event as text wrapped around the message's own compact JSON
 * (the text the cache holds), so a send serialises the message once: the
 * same JSON as ev_message() dumped. Returns a malloc'd string, or NULL when
 * out of memory or when conversation_id is not plain UUID text (then use
 * ev_message()).
 */
char *ev_message_text(const char *conversation_id, long long seq, const char *message_text);

/*
 * The message's text inside a payload made by ev_message_text(): *message
 * points into payload, *conversation_id gets the id and *seq the seq.
 * Returns 0, or -1 for any other shape (the caller parses the payload).
 */
int ev_message_text_split(const char *payload, size_t len, char conversation_id[64], long long *seq,
                          const char **message, size_t *message_len);
json_t *ev_typing(const char *conversation_id, const char *user_id, int is_typing);
json_t *ev_read(const char *conversation_id, const char *user_id, long long seq,
                const char *message_id);

/*
 * An event's publication as Redis commands, the same for the blocking
 * client (chat-api, below) and the gateway's async one: XADD on the
 * conversation's shard and, for a message, ZADD, trim and EXPIRE of the
 * conversation's cache (for typing, the typing set's update first). A
 * message is serialised once: the event is written around the cache
 * entry's text (ev_message_text). The argv arrays point into the struct,
 * so it must stay where it was filled until sent.
 */
#define EV_PUB_MAX 4
struct ev_pub {
    int n;
    int argc[EV_PUB_MAX];
    const char *argv[EV_PUB_MAX][8];
    char stream[EV_KEY_MAX], key[EV_KEY_MAX], score[24], trim[16]; /* key: cache or typing set */
    char *payload, *cached;
};

/* Fill p for ev (borrowed). Returns 0, or -1 when out of memory (p is then empty). */
int ev_pub_event(struct ev_pub *p, int nshards, const char *conversation_id, const json_t *ev);

/* Fill p for a stored message (borrowed) at seq. Returns 0, or -1 when out of memory. */
int ev_pub_message(struct ev_pub *p, int nshards, const char *conversation_id, long long seq,
                   json_t *message);

/*
 * Fill p for a typing change of user_id (borrowed) in the conversation: the
 * typing set's ZADD (expiry now + EV_TYPING_TTL_MS) or ZREM, its PEXPIRE,
 * then the XADD of the typing event. Returns 0, or -1 when out of memory.
 */
int ev_pub_typing(struct ev_pub *p, int nshards, const char *conversation_id, const char *user_id,
                  bool typing);

void ev_pub_free(struct ev_pub *p);

/*
 * Publish ev (borrowed) on the conversation's shard with one XADD.
 * Returns 0, or -1 when Redis is unavailable (the caller carries on:
 * PostgreSQL holds the truth and gateways catch up by seq).
 */
int ev_publish(struct rds_conn *r, int nshards, const char *conversation_id, const json_t *ev);

/*
 * Publish a message event and add the message to the conversation's
 * cache in one pipeline (XADD, ZADD, ZREMRANGEBYRANK, EXPIRE).
 */
int ev_publish_message(struct rds_conn *r, int nshards, const char *conversation_id, long long seq,
                       json_t *message /* borrowed */);

/* Store and publish a typing change in one pipeline. Returns 0, or -1 (Redis unavailable). */
int ev_publish_typing(struct rds_conn *r, int nshards, const char *conversation_id,
                      const char *user_id, bool typing);

#endif
