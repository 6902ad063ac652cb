/*
 * config.h - process configuration from the environment.
 *
 * Both binaries read the same variables (the seed README's names and
 * defaults, plus our own FCGI_* / WS_* keys). Values come from the real
 * environment first, then from an optional KEY=VALUE file (.env style), then
 * from the defaults below. Validation happens once at start-up; a bad value
 * stops the program with one line naming the key.
 */
#ifndef CHAT_CONFIG_H
#define CHAT_CONFIG_H

#include <stddef.h>
#include <stdbool.h>

#define CFG_MAX_ORIGINS 16
#define CFG_SECRET_MIN 32
#define CFG_PREFIX_MAX 64 /* bytes of API_V1_PREFIX */

struct chat_config {
    char *app_name;
    bool debug;
    char *api_prefix; /* "/api/v1": starts with "/", no trailing "/", at most CFG_PREFIX_MAX */

    char *database_url; /* effective libpq conninfo: DATABASE_URL plus our timeouts (key=value) */
    bool db_echo;
    int db_pool_size;
    int db_max_overflow;
    int db_connect_timeout_secs; /* libpq connect_timeout; also our bound on a connect */
    int db_statement_timeout_ms; /* server statement_timeout; our wait is this plus a margin */
    int db_pool_wait_ms;         /* chat-api: longest wait for a free backend before a 503 */

    char *redis_host;
    int redis_port;
    char *redis_socket; /* unix socket path or NULL */
    int redis_db;
    char *redis_password; /* NULL if none */
    int redis_timeout_ms; /* bound on a connect and on each command */

    char *secret_key;
    size_t secret_len;
    char *algorithm; /* HS256 | HS384 | HS512 */
    int access_token_minutes;
    int refresh_token_days;

    char *cors_origins[CFG_MAX_ORIGINS];
    int n_cors_origins;

    int rl_per_minute;
    int rl_per_hour;
    int rl_messages_per_minute;
    int rl_auth_per_minute;   /* login/register attempts per client address */
    int rl_typing_per_minute; /* typing signals per user, REST and WebSocket */
    int rl_read_per_minute;   /* read marks per user, REST and WebSocket */
    int login_fails_address;  /* failed logins per (account, address) per 15 minutes */
    int login_fails_account;  /* failed logins per account per hour, from unfamiliar addresses */

    /* membership */
    int max_group_members; /* members of a group or room, owner included */
    int max_rooms_per_user; /* rooms a user may have created */
    int edit_window_minutes; /* how long a message can be edited (0: for ever) */

    /* WebSocket admission (per gateway process) */
    int ws_max_per_user;        /* open sockets of one user */
    int ws_max_per_address;     /* open sockets from one client address */
    int ws_max_unauth_per_addr; /* sockets of one address still waiting for their auth */
    int ws_handshakes_per_min;  /* handshakes per client address per minute */
    char *trusted_proxies[CFG_MAX_ORIGINS]; /* peers whose X-Real-IP names the client */
    int n_trusted_proxies;
    char *metrics_allow[CFG_MAX_ORIGINS]; /* networks (CIDR) that may read /metrics */
    int n_metrics_allow;

    int log_level; /* LOG_DEBUG.. from log.h */

    /* limits */
    size_t max_body_bytes; /* REST body limit (413 above) */
    int max_message_chars; /* message content, in characters */
    size_t ws_max_frame;   /* WebSocket frame limit */
    int offline_max;       /* offline messages delivered on connect */
    int ws_queue_max;      /* outgoing frames queued per connection */
    int ws_ping_secs;      /* quiet time before the gateway pings */
    int ws_idle_secs;      /* quiet time (no pong, no frame) before hang-up */
    int ws_auth_secs;      /* a socket not authorised by then is closed with 4401 */
    int ws_sndbuf;         /* SO_SNDBUF of each WebSocket in bytes, 0 = kernel autotuning */

    /* chat-api */
    char *fcgi_socket;
    char *docs_assets_dir; /* where /docs finds its renderer script */
    int fcgi_threads;

    /* chat-gateway */
    char *ws_host;
    int ws_port;
    char *gateway_id;

    int stream_shards; /* number of Redis event streams */
};

/* Look-up function: returns the value of key or NULL. */
typedef const char *(*cfg_getter_fn)(const char *key, void *ud);

/*
 * Fill cfg from get(). On error returns -1 and writes one line naming the
 * key into err. On success cfg owns its strings; release with cfg_free().
 */
int cfg_load_from(struct chat_config *cfg, cfg_getter_fn get, void *ud, char *err, size_t errlen);

/*
 * Fill cfg from the process environment, falling back to env_file (may be
 * NULL; a missing file is an error only if env_file was given explicitly).
 */
int cfg_load(struct chat_config *cfg, const char *env_file, char *err, size_t errlen);

void cfg_free(struct chat_config *cfg);

/* True when origin is listed in CORS_ORIGINS ("*" allows any). */
bool cfg_origin_allowed(const struct chat_config *cfg, const char *origin);

/* True when addr (numeric) is inside one of the METRICS_ALLOW networks. */
bool cfg_metrics_allowed(const struct chat_config *cfg, const char *addr);

/* True when addr (numeric, as the socket gives it) is one of TRUSTED_PROXIES. */
bool cfg_trusted_proxy(const struct chat_config *cfg, const char *addr);

/*
 * Parse a PostgreSQL URL (postgresql://, postgres://, postgresql+asyncpg://)
 * into a libpq URI. Returns a malloc'ed string or NULL if malformed.
 */
char *cfg_pg_conninfo(const char *url);

/*
 * The conninfo both binaries connect with: conninfo (a libpq URI or
 * key=value string) rewritten as key=value, plus, unless it sets them
 * already, connect_timeout, TCP keepalives, tcp_user_timeout and
 * options=-c statement_timeout (appended to any options it has) from cfg's
 * db_* fields. Returns a malloc'ed string, or NULL when conninfo does not
 * parse (or out of memory).
 */
char *cfg_pg_effective(const char *conninfo, const struct chat_config *cfg);

/* Parse redis://[:password@]host[:port][/db] or unix:///path?db=N. */
int cfg_parse_redis_url(const char *url, struct chat_config *cfg);

#endif
