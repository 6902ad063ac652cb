/* metrics.c - see metrics.h. */
#include "metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
    char *labels;
    double value;   /* counter or gauge */
    double *counts; /* histogram: per bucket, not cumulative; [nbounds] is +Inf */
    double sum, count;
};

struct mx_family {
    struct mx_family *next;
    const char *name, *help;
    enum mx_type type;
    const double *bounds;
    int nbounds;
    mx_collect_fn collect;
    void *collect_arg;
    pthread_mutex_t mu;
    struct series *series;
    int nseries, cap;
    FILE *out; /* while a collect callback writes */
};

static struct {
    struct mx_family *head, **tail;
    pthread_mutex_t render_mu;
} mx = {NULL, &mx.head, PTHREAD_MUTEX_INITIALIZER};

static struct mx_family *declare(const char *name, const char *help, enum mx_type type)
{
    struct mx_family *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->name = name;
    f->help = help;
    f->type = type;
    pthread_mutex_init(&f->mu, NULL);
    *mx.tail = f;
    mx.tail = &f->next;
    return f;
}

struct mx_family *mx_counter(const char *name, const char *help)
{
    return declare(name, help, MX_COUNTER);
}

struct mx_family *mx_gauge(const char *name, const char *help)
{
    return declare(name, help, MX_GAUGE);
}

struct mx_family *mx_gauge_fn(const char *name, const char *help, mx_collect_fn fn, void *arg)
{
    struct mx_family *f = declare(name, help, MX_GAUGE);

    if (f != NULL) {
        f->collect = fn;
        f->collect_arg = arg;
    }
    return f;
}

struct mx_family *mx_histogram(const char *name, const char *help, const double *bounds, int n)
{
    struct mx_family *f = declare(name, help, MX_HISTOGRAM);

    if (f != NULL) {
        f->bounds = bounds;
        f->nbounds = n;
    }
    return f;
}

/* The series of labels, made on first use; with f->mu held. NULL when out of memory. */
static struct series *series_of(struct mx_family *f, const char *labels)
{
    struct series *s;

    if (labels == NULL)
        labels = "";
    for (int i = 0; i < f->nseries; i++)
        if (strcmp(f->series[i].labels, labels) == 0)
            return &f->series[i];
    if (f->nseries == f->cap) {
        int cap = f->cap ? f->cap * 2 : 8;
        struct series *grown = realloc(f->series, (size_t)cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        f->series = grown;
        f->cap = cap;
    }
    s = &f->series[f->nseries];
    memset(s, 0, sizeof(*s));
    if ((s->labels = strdup(labels)) == NULL)
        return NULL;
    if (f->type == MX_HISTOGRAM &&
        (s->counts = calloc((size_t)f->nbounds + 1, sizeof(*s->counts))) == NULL) {
        free(s->labels);
        return NULL;
    }
    f->nseries++;
    return s;
}

/* Apply op to the series of labels under the family's lock. */
static void update(struct mx_family *f, const char *labels, double v, char op)
{
    struct series *s;

    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    if ((s = series_of(f, labels)) != NULL) {
        if (op == '+') {
            s->value += v;
        } else if (op == '=') {
            s->value = v;
        } else {
            int b = 0;
            while (b < f->nbounds && v > f->bounds[b])
                b++;
            s->counts[b]++;
            s->sum += v;
            s->count++;
        }
    }
    pthread_mutex_unlock(&f->mu);
}

void mx_add(struct mx_family *f, const char *labels, double v)
{
    update(f, labels, v, '+');
}

void mx_inc(struct mx_family *f, const char *labels)
{
    update(f, labels, 1, '+');
}

void mx_set(struct mx_family *f, const char *labels, double v)
{
    update(f, labels, v, '=');
}

void mx_observe(struct mx_family *f, const char *labels, double v)
{
    update(f, labels, v, 'h');
}

double mx_value(const struct mx_family *f, const char *labels)
{
    double v = 0;

    if (f == NULL)
        return 0;
    pthread_mutex_lock((pthread_mutex_t *)&f->mu);
    for (int i = 0; i < f->nseries; i++)
        if (strcmp(f->series[i].labels, labels ? labels : "") == 0)
            v = f->series[i].value;
    pthread_mutex_unlock((pthread_mutex_t *)&f->mu);
    return v;
}

/* name{labels} or name{labels,extra}, braces left out when both are empty. */
static void write_name(FILE *out, const char *name, const char *suffix, const char *labels,
                       const char *extra)
{
    bool has_labels = labels != NULL && labels[0] != '\0', has_extra = extra != NULL;

    fprintf(out, "%s%s", name, suffix);
    if (has_labels || has_extra)
        fprintf(out, "{%s%s%s}", has_labels ? labels : "", has_labels && has_extra ? "," : "",
                has_extra ? extra : "");
}

void mx_emit(struct mx_family *f, const char *labels, double v)
{
    if (f == NULL || f->out == NULL)
        return;
    write_name(f->out, f->name, "", labels, NULL);
    fprintf(f->out, " %.15g\n", v);
}

static void render_histogram(FILE *out, const struct mx_family *f, const struct series *s)
{
    char le[48];
    double cumulative = 0;

    for (int b = 0; b <= f->nbounds; b++) {
        cumulative += s->counts[b];
        if (b < f->nbounds)
            snprintf(le, sizeof(le), "le=\"%.15g\"", f->bounds[b]);
        else
            snprintf(le, sizeof(le), "le=\"+Inf\"");
        write_name(out, f->name, "_bucket", s->labels, le);
        fprintf(out, " %.15g\n", cumulative);
    }
    write_name(out, f->name, "_sum", s->labels, NULL);
    fprintf(out, " %.15g\n", s->sum);
    write_name(out, f->name, "_count", s->labels, NULL);
    fprintf(out, " %.15g\n", s->count);
}

static void render_family(FILE *out, struct mx_family *f)
{
    static const char *types[] = {"counter", "gauge", "histogram"};

    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->type]);
    if (f->collect != NULL) {
        f->out = out;
        f->collect(f, f->collect_arg);
        f->out = NULL;
        return;
    }
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->nseries; i++) {
        if (f->type == MX_HISTOGRAM) {
            render_histogram(out, f, &f->series[i]);
        } else {
            write_name(out, f->name, "", f->series[i].labels, NULL);
            fprintf(out, " %.15g\n", f->series[i].value);
        }
    }
    pthread_mutex_unlock(&f->mu);
}

char *mx_render(size_t *len)
{
    char *buf = NULL;
    FILE *out;

    pthread_mutex_lock(&mx.render_mu);
    out = open_memstream(&buf, len);
    if (out != NULL) {
        for (struct mx_family *f = mx.head; f != NULL; f = f->next)
            render_family(out, f);
        if (fclose(out) != 0) {
            free(buf);
            buf = NULL;
        }
    }
    pthread_mutex_unlock(&mx.render_mu);
    return buf;
}

void mx_reset(void)
{
    struct mx_family *f = mx.head, *next;

    for (; f != NULL; f = next) {
        next = f->next;
        for (int i = 0; i < f->nseries; i++) {
            free(f->series[i].labels);
            free(f->series[i].counts);
        }
        free(f->series);
        pthread_mutex_destroy(&f->mu);
        free(f);
    }
    mx.head = NULL;
    mx.tail = &mx.head;
}
