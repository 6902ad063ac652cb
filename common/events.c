/* events.c - see events.h. */
#include "events.h"
#include "message.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint32_t ev_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a: stable across processes and hosts */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

int ev_shard(const char *conversation_id, int nshards)
{
    return (int)(ev_hash(conversation_id) % (uint32_t)nshards);
}

void ev_stream_key(int shard, char out[EV_KEY_MAX])
{
    snprintf(out, EV_KEY_MAX, EV_STREAM_PREFIX "%d", shard);
}

void ev_cache_key(const char *conversation_id, char out[EV_KEY_MAX])
{
    snprintf(out, EV_KEY_MAX, "chat:recent:{%s}", conversation_id);
}

void ev_cache_version_key(const char *conversation_id, char out[EV_KEY_MAX])
{
    snprintf(out, EV_KEY_MAX, "chat:recent:{%s}:v", conversation_id);
}

/* The cache scripts: see events.h. EV_CACHE_SIZE is 50, the TTL a day. */
static const char cache_apply_src[] =
    "local v = redis.call('GET', KEYS[2])\n"
    "local s = tonumber(ARGV[1])\n"
    /* no cache: only the conversation's first event can start one (from nothing) */
    "if not v then\n"
    "  if s ~= 1 then return 0 end\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  v = 0\n"
    "end\n"
    "v = tonumber(v)\n"
    "if s <= v then return 1 end\n"
    "if s ~= v + 1 then redis.call('DEL', KEYS[1], KEYS[2]) return 2 end\n"
    "local score = ARGV[3]\n"
    "if ARGV[2] == 'add' then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[1], score, score)\n"
    "  redis.call('ZADD', KEYS[1], score, ARGV[4])\n"
    "  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -51)\n"
    "else\n"
    "  if redis.call('ZCOUNT', KEYS[1], score, score) > 0 then\n"
    "    redis.call('ZREMRANGEBYSCORE', KEYS[1], score, score)\n"
    "    redis.call('ZADD', KEYS[1], score, ARGV[4])\n"
    "  end\n"
    "  if ARGV[5] then\n"
    "    local needle = '\"reply_to\":{\"id\":\"' .. ARGV[5] .. '\"'\n"
    "    for _, e in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "      if string.find(e, needle, 1, true) then\n"
    "        redis.call('DEL', KEYS[1], KEYS[2]) return 3\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('SET', KEYS[2], ARGV[1], 'EX', " EV_CACHE_TTL_SECONDS ")\n"
    "redis.call('EXPIRE', KEYS[1], " EV_CACHE_TTL_SECONDS ")\n"
    "return 1\n";

struct rds_script ev_cache_apply_script = {.src = cache_apply_src};

struct rds_script ev_cache_fill_script = {
    .src = "local v = redis.call('GET', KEYS[2])\n"
           "if v and tonumber(v) > tonumber(ARGV[1]) then return 0 end\n"
           "redis.call('DEL', KEYS[1])\n"
           "for i = 2, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end\n"
           "redis.call('SET', KEYS[2], ARGV[1], 'EX', " EV_CACHE_TTL_SECONDS ")\n"
           "if #ARGV > 1 then redis.call('EXPIRE', KEYS[1], " EV_CACHE_TTL_SECONDS ") end\n"
           "return 1\n",
};

struct rds_script ev_cache_read_script = {
    .src = "local v = redis.call('GET', KEYS[2])\n"
           "local r = {v or false, redis.call('ZCARD', KEYS[1])}\n"
           "if v then\n"
           "  for _, e in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)) do\n"
           "    r[#r + 1] = e\n"
           "  end\n"
           "end\n"
           "return r\n",
};

void ev_typing_key(const char *conversation_id, char out[EV_KEY_MAX])
{
    snprintf(out, EV_KEY_MAX, "chat:typing:%s", conversation_id);
}

void ev_presence_key(const char *user_id, char out[EV_KEY_MAX])
{
    snprintf(out, EV_KEY_MAX, "chat:presence:%s", user_id);
}

int64_t ev_epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

json_t *ev_message(const char *conversation_id, long long seq, json_t *message)
{
    return json_pack("{s:s, s:s, s:I, s:O}", "type", "message", "conversation_id", conversation_id,
                     "seq", (json_int_t)seq, "message", message);
}

#define EV_MSG_HEAD "{\"type\":\"message\",\"conversation_id\":\""
#define EV_MSG_SEQ "\",\"seq\":"
#define EV_MSG_BODY ",\"message\":"

/* Text that needs no JSON escaping and fits the split's buffer: UUID forms PostgreSQL accepts. */
static bool plain_id(const char *s, size_t len)
{
    if (len == 0 || len >= 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isxdigit((unsigned char)s[i]) && s[i] != '-' && s[i] != '{' && s[i] != '}')
            return false;
    return true;
}

char *ev_message_text(const char *conversation_id, long long seq, const char *message_text)
{
    size_t n = strlen(conversation_id), m = strlen(message_text);
    size_t cap = sizeof(EV_MSG_HEAD EV_MSG_SEQ EV_MSG_BODY) + n + 24 + m + 1;
    char *s;

    if (!plain_id(conversation_id, n) || (s = malloc(cap)) == NULL)
        return NULL;
    snprintf(s, cap, EV_MSG_HEAD "%s" EV_MSG_SEQ "%lld" EV_MSG_BODY "%s}", conversation_id, seq,
             message_text);
    return s;
}

int ev_message_text_split(const char *payload, size_t len, char conversation_id[64], long long *seq,
                          const char **message, size_t *message_len)
{
    const char *p = payload, *end = payload + len, *q;

    if (!msg_take(&p, end, EV_MSG_HEAD) || (q = memchr(p, '"', (size_t)(end - p))) == NULL ||
        !plain_id(p, (size_t)(q - p)))
        return -1;
    memcpy(conversation_id, p, (size_t)(q - p));
    conversation_id[q - p] = '\0';
    p = q;
    /* the message object runs to the payload's closing brace */
    if (!msg_take(&p, end, EV_MSG_SEQ) || !msg_take_seq(&p, end, seq) ||
        !msg_take(&p, end, EV_MSG_BODY) || end - p < 2 || *p != '{' || end[-1] != '}' ||
        end[-2] != '}')
        return -1;
    *message = p;
    *message_len = (size_t)(end - 1 - p);
    return 0;
}

json_t *ev_typing(const char *conversation_id, const char *user_id, int is_typing)
{
    return json_pack("{s:s, s:s, s:s, s:b}", "type", "typing", "conversation_id", conversation_id,
                     "user_id", user_id, "is_typing", is_typing);
}

json_t *ev_read(const char *conversation_id, const char *user_id, long long seq,
                const char *message_id)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:s?}", "type", "read", "conversation_id",
                     conversation_id, "user_id", user_id, "seq", (json_int_t)seq, "message_id",
                     message_id);
}

json_t *ev_message_change(const char *type, const char *conversation_id, long long seq,
                          const char *user_id, json_t *message)
{
    return json_pack("{s:s, s:s, s:I, s:O?, s:s?, s:O}", "type", type, "conversation_id",
                     conversation_id, "seq", (json_int_t)seq, "message_id",
                     json_object_get(message, "id"), "user_id", user_id, "message", message);
}

json_t *ev_reaction(const char *type, const char *conversation_id, long long seq,
                    const char *message_id, const char *emoji, const char *user_id, long long count)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:I}", "type", type, "conversation_id",
                     conversation_id, "seq", (json_int_t)seq, "message_id", message_id, "emoji",
                     emoji, "user_id", user_id, "count", (json_int_t)count);
}

json_t *ev_member(const char *type, const char *conversation_id, long long seq,
                  const char *user_id)
{
    return json_pack("{s:s, s:s, s:I, s:s}", "type", type, "conversation_id", conversation_id,
                     "seq", (json_int_t)seq, "user_id", user_id);
}

bool ev_type_is_durable(const char *type)
{
    static const char *const durable[] = {"message",        "message_updated", "message_deleted",
                                          "reaction_added", "reaction_removed", "member_added",
                                          "member_removed"};
    for (size_t i = 0; i < sizeof(durable) / sizeof(*durable); i++)
        if (strcmp(type, durable[i]) == 0)
            return true;
    return false;
}

/* Append the command argv[0..argc) to p. */
static void pub_add(struct ev_pub *p, int argc, const char *const *argv)
{
    p->argc[p->n] = argc;
    memcpy(p->argv[p->n], argv, sizeof(*argv) * (size_t)argc);
    p->n++;
}

/* Append the XADD of payload (owned by p from now on). */
static void pub_xadd(struct ev_pub *p, int nshards, const char *cid, char *payload)
{
    const char *argv[] = {"XADD", p->stream, "MAXLEN", "~", EV_STREAM_MAXLEN, "*", "e", payload};

    ev_stream_key(ev_shard(cid, nshards), p->stream);
    p->payload = payload;
    pub_add(p, 8, argv);
}

int ev_pub_event(struct ev_pub *p, int nshards, const char *conversation_id, const json_t *ev)
{
    char *payload = json_dumps(ev, JSON_COMPACT);

    memset(p, 0, sizeof(*p));
    if (payload == NULL)
        return -1;
    pub_xadd(p, nshards, conversation_id, payload);
    return 0;
}

/* Append the cache's apply script for p->cached at seq (see events.h). */
static void pub_cache_apply(struct ev_pub *p, const char *cid, long long seq, long long score,
                            const char *mode, const char *message_id)
{
    const char *argv[] = {"EVAL",  cache_apply_src, "2",       p->key,    p->vkey,
                          p->seq, mode,            p->score, p->cached, message_id};

    ev_cache_key(cid, p->key);
    ev_cache_version_key(cid, p->vkey);
    snprintf(p->seq, sizeof(p->seq), "%lld", seq);
    snprintf(p->score, sizeof(p->score), "%lld", score);
    p->script = p->n;
    pub_add(p, message_id != NULL ? 10 : 9, argv);
}

int ev_pub_message(struct ev_pub *p, int nshards, const char *conversation_id, long long seq,
                   json_t *message)
{
    char *cached = json_dumps(message, JSON_COMPACT), *payload = NULL;
    json_t *ev = NULL;

    memset(p, 0, sizeof(*p));
    if (cached != NULL && (payload = ev_message_text(conversation_id, seq, cached)) == NULL &&
        (ev = ev_message(conversation_id, seq, message)) != NULL)
        payload = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (payload == NULL) {
        free(cached);
        return -1;
    }
    pub_xadd(p, nshards, conversation_id, payload);
    p->cached = cached;
    pub_cache_apply(p, conversation_id, seq, seq, "add", NULL);
    return 0;
}

int ev_pub_change(struct ev_pub *p, int nshards, const char *conversation_id, long long seq,
                  const json_t *ev, const json_t *message)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    char *payload = json_dumps(ev, JSON_COMPACT), *cached = json_dumps(message, JSON_COMPACT);
    bool preview = type != NULL && strncmp(type, "message_", 8) == 0; /* edit or delete */

    memset(p, 0, sizeof(*p));
    if (payload == NULL || cached == NULL) {
        free(payload);
        free(cached);
        return -1;
    }
    pub_xadd(p, nshards, conversation_id, payload);
    p->cached = cached;
    pub_cache_apply(p, conversation_id, seq, json_integer_value(json_object_get(message, "seq")),
                    "set", preview ? json_string_value(json_object_get(message, "id")) : NULL);
    return 0;
}

int ev_pub_typing(struct ev_pub *p, int nshards, const char *conversation_id, const char *user_id,
                  bool typing)
{
    json_t *ev = ev_typing(conversation_id, user_id, typing);
    char *payload = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;

    json_decref(ev);
    memset(p, 0, sizeof(*p));
    if (payload == NULL)
        return -1;
    ev_typing_key(conversation_id, p->key);
    /* The set first: a gateway that reads the event and then the set sees the change. */
    if (typing) {
        const char *zadd[] = {"ZADD", p->key, p->score, user_id};
        snprintf(p->score, sizeof(p->score), "%lld", (long long)(ev_epoch_ms() + EV_TYPING_TTL_MS));
        pub_add(p, 4, zadd);
    } else {
        const char *zrem[] = {"ZREM", p->key, user_id};
        pub_add(p, 3, zrem);
    }
    {
        const char *pexpire[] = {"PEXPIRE", p->key, EV_TYPING_KEY_TTL_MS};
        pub_add(p, 3, pexpire);
    }
    pub_xadd(p, nshards, conversation_id, payload);
    return 0;
}

void ev_pub_free(struct ev_pub *p)
{
    free(p->payload);
    free(p->cached);
    memset(p, 0, sizeof(*p));
}

/* One command, its reply checked: 0, or -1. */
static int collect_ok_one(struct rds_conn *r, int argc, const char **argv)
{
    redisReply *rep = NULL;
    int rc = rds_append_argv(r, argc, argv, NULL);

    if (rc == 0)
        rc = rds_collect(r, 1, &rep);
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
        rc = -1;
    if (rep != NULL)
        freeReplyObject(rep);
    return rc;
}

/*
 * Send p's commands in one pipeline and check every reply; frees p. The
 * cache script goes by EVALSHA (its SHA learnt once per process); after a
 * NOSCRIPT (Redis restarted) it is sent again with its source.
 */
static int pub_send(struct rds_conn *r, struct ev_pub *p)
{
    redisReply *rep[EV_PUB_MAX] = {0};
    const char *src = NULL;
    char sha[41];
    int rc = 0;

    if (p->script > 0 && rds_script_sha(r, &ev_cache_apply_script, sha) == 0) {
        src = p->argv[p->script][1];
        p->argv[p->script][0] = "EVALSHA";
        p->argv[p->script][1] = sha;
    }
    for (int i = 0; i < p->n && rc == 0; i++)
        rc = rds_append_argv(r, p->argc[i], p->argv[i], NULL);
    if (rc == 0)
        rc = rds_collect(r, p->n, rep);
    for (int i = 0; i < p->n; i++) {
        if (rep[i] == NULL)
            continue;
        if (rep[i]->type == REDIS_REPLY_ERROR && i == p->script && src != NULL &&
            strncmp(rep[i]->str, "NOSCRIPT", 8) == 0) {
            rds_script_forget(&ev_cache_apply_script);
            p->argv[i][0] = "EVAL";
            p->argv[i][1] = src;
            rc = collect_ok_one(r, p->argc[i], p->argv[i]) || rc;
        } else if (rep[i]->type == REDIS_REPLY_ERROR) {
            rc = -1;
        }
        freeReplyObject(rep[i]);
    }
    ev_pub_free(p);
    return rc;
}

int ev_publish(struct rds_conn *r, int nshards, const char *conversation_id, const json_t *ev)
{
    struct ev_pub p;

    if (ev_pub_event(&p, nshards, conversation_id, ev) != 0)
        return -1;
    return pub_send(r, &p);
}

int ev_publish_message(struct rds_conn *r, int nshards, const char *conversation_id, long long seq,
                       json_t *message)
{
    struct ev_pub p;

    if (ev_pub_message(&p, nshards, conversation_id, seq, message) != 0)
        return -1;
    return pub_send(r, &p);
}

int ev_publish_change(struct rds_conn *r, int nshards, const char *conversation_id, long long seq,
                      const json_t *ev, const json_t *message)
{
    struct ev_pub p;

    if (ev_pub_change(&p, nshards, conversation_id, seq, ev, message) != 0)
        return -1;
    return pub_send(r, &p);
}

int ev_publish_typing(struct rds_conn *r, int nshards, const char *conversation_id,
                      const char *user_id, bool typing)
{
    struct ev_pub p;

    if (ev_pub_typing(&p, nshards, conversation_id, user_id, typing) != 0)
        return -1;
    return pub_send(r, &p);
}
