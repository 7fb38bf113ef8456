/* ctl_cmds_logs.c -- c360ctl status, logs sync|deliveries, oauth start:
 * what a connection is doing, and connecting it to its provider. */
#include <string.h>

#include "ctl.h"

static const ctl_col sync_cols[] = {
    {"time", "at_ms"},
    {"kind", "kind"},
    {"status", "status"},
    {"records", "records"},
    {"duration_ms", "duration_ms"},
    {"attempt", "attempt"},
    {"error", "error"},
    {"request_id", "request_id"},
    {NULL, NULL},
};

static const ctl_col delivery_cols[] = {
    {"time", "at_ms"},
    {"record", "record_id"},
    {"status", "status"},
    {"code", "code"},
    {"duration_ms", "duration_ms"},
    {"error", "error"},
    {NULL, NULL},
};

static int conn_path(const ctl_args *a, ctl_str *p)
{
    const char *tenant = ctl_need(a, "tenant"), *conn = tenant ? ctl_need(a, "conn") : NULL;
    if (!conn) return CTL_USAGE;
    ctl_path_conn(p, tenant, conn);
    return CTL_OK;
}

static int status(ctl_ctx *c, const ctl_args *a)
{
    ctl_str p = {0};
    int rc = conn_path(a, &p);
    json_t *r = NULL;
    if (rc == CTL_OK) {
        ctl_str_add(&p, "/status");
        rc = ctl_call(c, "GET", p.s, NULL, NULL, NULL, &r, NULL);
    }
    ctl_str_free(&p);
    return ctl_finish(c, rc, r, NULL);
}

static int log_list(ctl_ctx *c, const ctl_args *a, const char *suffix, const ctl_col *cols,
                    const char *what)
{
    char since[32], until[32];
    int rc = ctl_opt_time(a, "since", since, sizeof since);
    if (rc == CTL_OK) rc = ctl_opt_time(a, "until", until, sizeof until);
    if (rc != CTL_OK) return rc;
    ctl_str p = {0};
    rc = conn_path(a, &p);
    if (rc == CTL_OK) {
        ctl_str_add(&p, suffix);
        ctl_str_query(&p, "status", ctl_opt(a, "status"));
        ctl_str_query(&p, "since_ms", since[0] ? since : NULL);
        ctl_str_query(&p, "until_ms", until[0] ? until : NULL);
        rc = ctl_list(c, &p, cols, what);
    }
    ctl_str_free(&p);
    return rc;
}

static int sync_log(ctl_ctx *c, const ctl_args *a)
{
    return log_list(c, a, "/sync-log", sync_cols, "sync log entries");
}

static int deliveries(ctl_ctx *c, const ctl_args *a)
{
    return log_list(c, a, "/deliveries", delivery_cols, "delivery attempts");
}

static int oauth_start(ctl_ctx *c, const ctl_args *a)
{
    ctl_str p = {0};
    int rc = conn_path(a, &p);
    json_t *r = NULL, *body = json_object();
    const char *ret = ctl_opt(a, "return-url");
    if (ret) json_object_set_new(body, "return_url", json_string(ret));
    if (rc == CTL_OK) {
        ctl_str_add(&p, "/oauth/start");
        rc = ctl_call(c, "POST", p.s, body, NULL, NULL, &r, NULL);
    }
    json_decref(body);
    ctl_str_free(&p);
    if (rc == CTL_OK && !c->json)
        fputs("Open the authorization URL in a browser to connect; the link is single-use "
              "and expires.\n", stderr);
    return ctl_finish(c, rc, r, NULL);
}

#define LOG_OPTS "tenant=,conn=,status=,since=,until=," CTL_LIST_OPTS
#define TIMES_HELP                                                                   \
    "Times: milliseconds since the epoch, RFC 3339 (2025-03-01T10:00:00Z), or\n"     \
    "relative to now (-1h, -30m, -2d).\n"

const ctl_cmd ctl_cmds_logs[] = {
    {"status", NULL, "tenant=,conn=", 0, 0, "status --tenant T --conn C",
     "Shows a connection's state and its cause, last tick, success and error, token\n"
     "expiry and counts.\n",
     status},
    {"logs", "sync", LOG_OPTS, 0, 0,
     "logs sync --tenant T --conn C [--status S] [--since TIME] [--until TIME] [--all]",
     "Lists a connection's sync log (its ticks).\n" TIMES_HELP, sync_log},
    {"logs", "deliveries", LOG_OPTS, 0, 0,
     "logs deliveries --tenant T --conn C [--status S] [--since TIME] [--until TIME] [--all]",
     "Lists a connection's delivery attempts.\n" TIMES_HELP, deliveries},
    {"oauth", "start", "tenant=,conn=,return-url=", 0, 0,
     "oauth start --tenant T --conn C [--return-url URL]",
     "Prints the provider's authorization URL to connect with OAuth.\n"
     "The link is single-use and expires. After the consent the browser returns to\n"
     "--return-url if given.\n",
     oauth_start},
    {NULL},
};
