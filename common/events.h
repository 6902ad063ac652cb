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
/* chat:recent:{id}:v: the seq of the last event the cache reflects */
void ev_cache_version_key(const char *conversation_id, char out[EV_KEY_MAX]);
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

/*
 * The durable events beside a message's creation, each with the seq it took:
 *   {"type":"message_updated"|"message_deleted","conversation_id","seq","message_id",
 *    "user_id" (who did it),"message":{the message now (a tombstone once deleted)}}
 *   {"type":"reaction_added"|"reaction_removed","conversation_id","seq","message_id",
 *    "emoji","user_id","count" (the emoji's count on the message after it)}
 *   {"type":"member_added"|"member_removed","conversation_id","seq","user_id"}
 */
json_t *ev_message_change(const char *type, const char *conversation_id, long long seq,
                          const char *user_id, json_t *message /* borrowed */);
json_t *ev_reaction(const char *type, const char *conversation_id, long long seq,
                    const char *message_id, const char *emoji, const char *user_id, long long count);
json_t *ev_member(const char *type, const char *conversation_id, long long seq,
                  const char *user_id);

/* Whether an event of this type takes a seq of the conversation's one sequence. */
bool ev_type_is_durable(const char *type);
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
#define EV_PUB_ARGS 10
struct ev_pub {
    int n;
    int argc[EV_PUB_MAX];
    const char *argv[EV_PUB_MAX][EV_PUB_ARGS];
    char stream[EV_KEY_MAX], key[EV_KEY_MAX], vkey[EV_KEY_MAX], score[24], seq[24];
    char *payload, *cached;
    int script; /* the index of the cache script's command (EVAL src 2 keys...), or 0: none */
};

/* Fill p for ev (borrowed). Returns 0, or -1 when out of memory (p is then empty). */
int ev_pub_event(struct ev_pub *p, int nshards, const char *conversation_id, const json_t *ev);

/* Fill p for a stored message (borrowed) at seq. Returns 0, or -1 when out of memory. */
int ev_pub_message(struct ev_pub *p, int nshards, const char *conversation_id, long long seq,
                   json_t *message);

/*
 * Fill p for a change of a stored message: the XADD of ev (borrowed: a
 * message_updated / message_deleted / reaction event at seq) and the cache's
 * update to message (borrowed: the message as it is now, read after the
 * change committed). Returns 0, or -1 when out of memory.
 */
int ev_pub_change(struct ev_pub *p, int nshards, const char *conversation_id, long long seq,
                  const json_t *ev, const json_t *message);

/*
 * The cache of recent messages (chat:recent:{id}, score = seq, member = the
 * message's compact JSON; chat:recent:{id}:v = the last seq it reflects).
 * It is trusted only when its version equals the conversation's last_seq,
 * so it must reflect every event in order: an update at seq v+1 applies, one
 * at or below v is already there, one past v+1 (an event it never got)
 * drops the cache, which the next history read fills again from the
 * database (ev_cache_fill_script, only over an older version). A missing
 * cache stays missing until then, except that the conversation's first
 * event (seq 1) starts it from nothing. An edit or delete of a message that a
 * cached entry replies to drops the cache too (the entry's reply preview
 * would be stale).
 *   apply: KEYS cache, version; ARGV seq, "add"|"set", score, message JSON
 *   fill:  KEYS cache, version; ARGV seq, then score, JSON pairs
 *   read:  KEYS cache, version; ARGV n -> {version or false, size, newest n entries...}
 */
extern struct rds_script ev_cache_apply_script, ev_cache_fill_script, ev_cache_read_script;

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
 * cache in one pipeline (XADD, then the cache's apply script).
 */
int ev_publish_message(struct rds_conn *r, int nshards, const char *conversation_id, long long seq,
                       json_t *message /* borrowed */);

/* ev_pub_change() sent on r. Returns 0, or -1 (Redis unavailable). */
int ev_publish_change(struct rds_conn *r, int nshards, const char *conversation_id, long long seq,
                      const json_t *ev, const json_t *message);

/* Store and publish a typing change in one pipeline. Returns 0, or -1 (Redis unavailable). */
int ev_publish_typing(struct rds_conn *r, int nshards, const char *conversation_id,
                      const char *user_id, bool typing);

#endif
