/*
 * log.c - see log.h. Lines are built with jansson so every value is escaped
 * correctly, then written with one write(2) so that several processes
 * sharing a file also get whole lines.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_component[32] = "chat";
static int log_min_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_init(const char *component, int level)
{
    snprintf(log_component, sizeof(log_component), "%s", component);
    log_min_level = level;
}

int log_level_parse(const char *s)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"DEBUG", LOG_DEBUG}, {"INFO", LOG_INFO},   {"WARNING", LOG_WARN},
                 {"WARN", LOG_WARN},   {"ERROR", LOG_ERROR}, {"CRITICAL", LOG_ERROR}};
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0)
            return names[i].level;
    return -1;
}

static const char *level_name(int level)
{
    if (level >= LOG_ERROR)
        return "error";
    if (level >= LOG_WARN)
        return "warning";
    if (level >= LOG_INFO)
        return "info";
    return "debug";
}

static void format_time(char *buf, size_t len)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

void log_emit(int level, const char *request_id, json_t *fields, const char *fmt, ...)
{
    char ts[40], msg[1024];
    va_list ap;
    json_t *line;
    char *out;

    if (level < log_min_level) {
        json_decref(fields);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    format_time(ts, sizeof(ts));

    line = json_pack("{s:s, s:s, s:s, s:s}", "time", ts, "level", level_name(level), "component",
                     log_component, "message", msg);
    if (line == NULL)
        goto out;
    if (request_id != NULL && request_id[0] != '\0')
        json_object_set_new(line, "request_id", json_string(request_id));
    if (fields != NULL)
        json_object_update(line, fields);
    out = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (out != NULL) {
        size_t n = strlen(out);
        out[n] = '\n'; /* replaces the NUL; we write exactly n + 1 bytes */
        pthread_mutex_lock(&log_lock);
        ssize_t w = write(STDERR_FILENO, out, n + 1);
        pthread_mutex_unlock(&log_lock);
        (void)w;
        free(out);
    }
    json_decref(line);
out:
    json_decref(fields);
}
