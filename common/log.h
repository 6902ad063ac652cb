/*
 * log.h - structured logging: one JSON object per line on stderr.
 *
 * Every line has time, level, component and message; request_id when the
 * caller has one, and any extra fields the caller passes as a jansson
 * object. Writing is serialised with a mutex so lines from several threads
 * never interleave. Below the configured level nothing is formatted.
 */
#ifndef CHAT_LOG_H
#define CHAT_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG = 10, LOG_INFO = 20, LOG_WARN = 30, LOG_ERROR = 40 };

void log_init(const char *component, int level);

/* Parse "DEBUG"/"INFO"/"WARNING"/"WARN"/"ERROR"/"CRITICAL" (any case); -1 if unknown. */
int log_level_parse(const char *s);

/*
 * Write one line. fields (may be NULL) is stolen: its keys are merged into
 * the line and it is released.
 */
void log_emit(int level, const char *request_id, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(rid, ...) log_emit(LOG_DEBUG, rid, NULL, __VA_ARGS__)
#define log_info(rid, ...) log_emit(LOG_INFO, rid, NULL, __VA_ARGS__)
#define log_warn(rid, ...) log_emit(LOG_WARN, rid, NULL, __VA_ARGS__)
#define log_error(rid, ...) log_emit(LOG_ERROR, rid, NULL, __VA_ARGS__)

#endif
