/* ctl_cmds_dlq.c -- c360ctl dlq list|get|replay|discard and replay:
 * dead letters (events or deliveries that failed for good) and raw-event
 * replay by time range.
 *
 * replay and discard act on one dead letter (DL argument) or on every one
 * matching the filters (--conn, --kind, --cause, --since, --until). With
 * no DL and no filter they refuse unless --all says "every dead letter of
 * the tenant"; a bulk discard asks for confirmation (--yes).
 *
 * The server bounds each bulk call and answers "more": c360ctl calls
 * again until nothing is left (a raw replay continues with its
 * next_cursor) and prints the totals, in the answer's own shape with
 * --json. */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const ctl_col cols[] = {
    {"id", "id"},
    {"time", "at_ms"},
    {"connection", "connection"},
    {"kind", "kind"},
    {"cause", "cause"},
    {"error", "error"},
    {NULL, NULL},
};

static void dl_path(ctl_str *p, const char *tenant)
{
    ctl_path_tenant(p, tenant);
    ctl_str_add(p, "/dead-letters");
}

static int list(ctl_ctx *c, const ctl_args *a)
{
    const char *tenant = ctl_need(a, "tenant");
    if (!tenant) return CTL_USAGE;
    char since[32], until[32];
    int rc = ctl_opt_time(a, "since", since, sizeof since);
    if (rc == CTL_OK) rc = ctl_opt_time(a, "until", until, sizeof until);
    if (rc != CTL_OK) return rc;
    ctl_str p = {0};
    dl_path(&p, tenant);
    ctl_str_query(&p, "connection", ctl_opt(a, "conn"));
    ctl_str_query(&p, "kind", ctl_opt(a, "kind"));
    ctl_str_query(&p, "cause", ctl_opt(a, "cause"));
    ctl_str_query(&p, "since_ms", since[0] ? since : NULL);
    ctl_str_query(&p, "until_ms", until[0] ? until : NULL);
    rc = ctl_list(c, &p, cols, "dead letters");
    ctl_str_free(&p);
    return rc;
}

static int get(ctl_ctx *c, const ctl_args *a)
{
    const char *tenant = ctl_need(a, "tenant");
    if (!tenant) return CTL_USAGE;
    ctl_str p = {0};
    dl_path(&p, tenant);
    ctl_str_seg(&p, a->pos[0]);
    json_t *r;
    int rc = ctl_call(c, "GET", p.s, NULL, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    return ctl_finish(c, rc, r, NULL);
}

/* {connection?, kind?, cause?, since_ms?, until_ms?} from the filters;
 * NULL after a usage error. *any: whether a filter was given. */
static json_t *filters(const ctl_args *a, int need_range, int *any, int *rc)
{
    char since[32], until[32];
    *rc = ctl_opt_time(a, "since", since, sizeof since);
    if (*rc == CTL_OK) *rc = ctl_opt_time(a, "until", until, sizeof until);
    if (*rc != CTL_OK) return NULL;
    if (need_range && (!since[0] || !until[0])) {
        *rc = ctl_usage_err(a, "--since and --until are required");
        return NULL;
    }
    json_t *body = json_object();
    const char *conn = ctl_opt(a, "conn");
    if (conn) json_object_set_new(body, "connection", json_string(conn));
    static const char *const words[] = {"kind", "cause", NULL};
    for (size_t i = 0; words[i]; i++) {
        const char *v = ctl_opt(a, words[i]);
        if (v) json_object_set_new(body, words[i], json_string(v));
    }
    if (since[0]) json_object_set_new(body, "since_ms", json_integer(strtoll(since, NULL, 10)));
    if (until[0]) json_object_set_new(body, "until_ms", json_integer(strtoll(until, NULL, 10)));
    *any = json_object_size(body) > 0;
    return body;
}

#define MAX_ROUNDS 100000

/* POSTs body to path while the answer says "more", summing the count
 * member; cursor_member (raw replay) carries next_cursor into the next
 * call. Prints the total. */
static int repeat(ctl_ctx *c, const char *path, json_t *body, const char *counted,
                  const char *cursor_member)
{
    long long total = 0;
    int rc = CTL_OK, more = 0;
    for (size_t round = 0; round < MAX_ROUNDS; round++) {
        json_t *r = NULL;
        rc = ctl_call(c, "POST", path, body, NULL, NULL, &r, NULL);
        if (rc != CTL_OK) break;
        json_int_t n = json_integer_value(json_object_get(r, counted));
        total += n;
        more = json_is_true(json_object_get(r, "more"));
        const char *next = json_string_value(json_object_get(r, "next_cursor"));
        const char *prev =
            cursor_member ? json_string_value(json_object_get(body, cursor_member)) : NULL;
        int stuck = cursor_member ? !next || (prev && strcmp(prev, next) == 0) : n == 0;
        if (cursor_member && more && next && !stuck)
            json_object_set_new(body, cursor_member, json_string(next));
        json_decref(r);
        if (!more) break;
        if (stuck) { /* no progress: do not spin */
            fprintf(stderr, "c360ctl: the server says more but moved none; stopping\n");
            break;
        }
        if (!c->json) fprintf(stderr, "... %lld %s so far\n", total, counted);
    }
    if (total > 0 || rc == CTL_OK) {
        if (c->json) {
            json_t *o = json_pack("{s:I,s:b}", counted, (json_int_t)total, "more", more);
            ctl_print_json(c, o);
            json_decref(o);
        } else {
            printf("%lld %s%s\n", total, counted, more ? " (more remain: run again)" : "");
        }
    }
    return rc;
}

/* replay / discard: one (DL given) or in bulk. */
static int act(ctl_ctx *c, const ctl_args *a, int discard)
{
    const char *tenant = ctl_need(a, "tenant");
    if (!tenant) return CTL_USAGE;
    ctl_str p = {0};
    dl_path(&p, tenant);
    json_t *r = NULL, *body = NULL;
    const char *method;
    int rc = CTL_OK;
    char done[200];
    if (a->npos == 1) {
        if (ctl_opt(a, "conn") || ctl_opt(a, "kind") || ctl_opt(a, "cause") ||
            ctl_opt(a, "since") || ctl_opt(a, "until") || ctl_flag(a, "all")) {
            ctl_str_free(&p);
            return ctl_usage_err(a, "give a dead letter id or filters, not both");
        }
        ctl_str_seg(&p, a->pos[0]);
        if (discard) {
            method = "DELETE";
        } else {
            method = "POST";
            ctl_str_add(&p, "/replay");
        }
        snprintf(done, sizeof done, "dead letter %.100s %s", a->pos[0],
                 discard ? "discarded" : "replayed");
    } else {
        int any = 0;
        body = filters(a, 0, &any, &rc);
        if (!body) {
            ctl_str_free(&p);
            return rc;
        }
        if (!any && !ctl_flag(a, "all")) {
            json_decref(body);
            ctl_str_free(&p);
            return ctl_usage_err(a, "give a dead letter id, filters (--conn, --kind, --cause, "
                                    "--since, --until), or --all for every dead letter of the "
                                    "tenant");
        }
        if (discard && (rc = ctl_confirm(a, "Discarding these dead letters", tenant)) != CTL_OK) {
            json_decref(body);
            ctl_str_free(&p);
            return rc;
        }
        ctl_str_add(&p, discard ? "/discard" : "/replay");
        rc = repeat(c, p.s, body, discard ? "discarded" : "replayed", NULL);
        json_decref(body);
        ctl_str_free(&p);
        return rc;
    }
    rc = ctl_call(c, method, p.s, body, NULL, NULL, &r, NULL);
    json_decref(body);
    ctl_str_free(&p);
    return ctl_finish(c, rc, r, done);
}

static int replay(ctl_ctx *c, const ctl_args *a) { return act(c, a, 0); }
static int discard(ctl_ctx *c, const ctl_args *a) { return act(c, a, 1); }

static int raw_replay(ctl_ctx *c, const ctl_args *a)
{
    const char *tenant = ctl_need(a, "tenant");
    if (!tenant) return CTL_USAGE;
    int any, rc;
    json_t *body = filters(a, 1, &any, &rc);
    if (!body) return rc;
    ctl_str p = {0};
    ctl_path_tenant(&p, tenant);
    ctl_str_add(&p, "/replay");
    rc = repeat(c, p.s, body, "replayed", "cursor");
    json_decref(body);
    ctl_str_free(&p);
    return rc;
}

#define FILTER_HELP                                                                    \
    "Filters: --conn C, --kind event|delivery, --cause error|attempts|poison,\n"       \
    "--since TIME, --until TIME. Times: milliseconds since the epoch, RFC 3339\n"      \
    "(2025-03-01T10:00:00Z), or relative to now (-1h, -2d).\n"
#define RANGE_HELP                                                                     \
    "Times: milliseconds since the epoch, RFC 3339 (2025-03-01T10:00:00Z), or\n"       \
    "relative to now (-1h, -2d). The range spans at most 31 days; c360ctl goes on\n"  \
    "call after call until all of it is replayed.\n"

const ctl_cmd ctl_cmds_dlq[] = {
    {"dlq", "list", "tenant=,conn=,kind=,cause=,since=,until=," CTL_LIST_OPTS, 0, 0,
     "dlq list --tenant T [--conn C] [--kind K] [--cause C] [--since TIME] [--until TIME] [--all]",
     "Lists a tenant's dead letters.\n" FILTER_HELP, list},
    {"dlq", "get", "tenant=", 1, 1, "dlq get DL --tenant T", "Shows one dead letter.\n", get},
    {"dlq", "replay", "tenant=,conn=,kind=,cause=,since=,until=,all", 0, 1,
     "dlq replay [DL] --tenant T [filters] [--all]",
     "Replays one dead letter, or every one matching the filters.\n"
     "--all: every dead letter of the tenant.\n" FILTER_HELP,
     replay},
    {"dlq", "discard", "tenant=,conn=,kind=,cause=,since=,until=,all,yes", 0, 1,
     "dlq discard [DL] --tenant T [filters] [--all] [--yes]",
     "Discards one dead letter, or every one matching the filters.\n"
     "--all: every dead letter of the tenant; --yes confirms a bulk discard.\n" FILTER_HELP,
     discard},
    {"replay", NULL, "tenant=,conn=,since=,until=", 0, 0,
     "replay --tenant T --since TIME --until TIME [--conn C]",
     "Processes again the webhook events a tenant received in a time range (raw\n"
     "events are kept for the tenant's retention), optionally of one connection.\n" RANGE_HELP,
     raw_replay},
    {NULL},
};
