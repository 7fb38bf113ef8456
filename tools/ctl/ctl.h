/* ctl.h -- the parts of c360ctl, the command-line client of the admin API
 * (docs/c360ctl.md).
 *
 * Pure parts (no network, unit-tested in tests/unit/test_ctl.c):
 *   ctl_str.c     growable strings, URL path/query encoding, JSON escaping
 *   ctl_args.c    the command line: global options, command words, options
 *   ctl_conf.c    URL, key and TLS settings from flags, environment, file
 *   ctl_time.c    times in (ms, RFC 3339, relative) and out (RFC 3339)
 *   ctl_table.c   aligned tables and "key: value" views of API JSON
 *   ctl_err.c     API errors as the user sees them
 * Network and commands (c360ctl only):
 *   ctl_http.c    one request with libcurl; exit codes
 *   ctl_out.c     printing results; option values; confirmations
 *   ctl_list.c    cursor-paged lists (--limit, --cursor, --all)
 *   ctl_cmds_*.c  one file per resource, each a table of ctl_cmd
 *   ctl_main.c    help, version, dispatch
 *
 * The API key is never taken from argv (it would show in ps and in shell
 * history), never printed, and wiped from memory after use; so are secret
 * values read for `secrets put`. */
#ifndef C360_CTL_H
#define C360_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes (documented in --help and docs/c360ctl.md). */
enum {
    CTL_OK = 0,
    CTL_API = 1,    /* the API answered an error (4xx/5xx), or a verdict "no" */
    CTL_USAGE = 2,  /* bad command line, missing URL or key */
    CTL_NET = 3,    /* could not connect, TLS failure, timeout */
    CTL_LOCAL = 4   /* local problem: a file unreadable, bad config file */
};

#define CTL_DEFAULT_URL "http://127.0.0.1:8360"
#define CTL_DEFAULT_TIMEOUT_S 30
#define CTL_KEY_MAX 512          /* bytes of an API key text */
#define CTL_FILE_MAX (1 << 20)   /* JSON files, secret values: 1 MiB */

/* ---- ctl_str.c ------------------------------------------------------------ */
typedef struct ctl_str {
    char *s;       /* NUL-terminated; NULL until the first append */
    size_t len, cap;
} ctl_str;

void ctl_str_add(ctl_str *b, const char *s);
void ctl_str_addn(ctl_str *b, const char *s, size_t n);
void ctl_str_addf(ctl_str *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "/" + s percent-encoded as one path segment (only unreserved kept). */
void ctl_str_seg(ctl_str *b, const char *s);
/* "?name=value" or "&name=value", value percent-encoded; NULL value: no-op. */
void ctl_str_query(ctl_str *b, const char *name, const char *value);
/* s as a JSON string literal with its quotes ("\u00XX" for controls). */
void ctl_str_json(ctl_str *b, const char *s, size_t n);
/* s made safe for a terminal: C0/C1 controls and DEL become '?' (text
 * from the server, e.g. a tenant named "\e]0;...", must not drive the
 * user's terminal). */
void ctl_str_safe(ctl_str *b, const char *s, size_t n);
/* Zeroes the bytes (for secrets) and frees. */
void ctl_str_wipe(ctl_str *b);
void ctl_str_free(ctl_str *b);
/* Zeroes memory in a way the compiler keeps. */
void ctl_wipe(void *p, size_t n);
/* 1 if s[0..n) is valid UTF-8 without NUL. */
int ctl_utf8_valid(const char *s, size_t n);
/* Reads a whole file ("-" = stdin) of at most max bytes into *out
 * (malloc'd, NUL-terminated). 0, or -1 with err (errno text or "larger
 * than N bytes"). */
int ctl_read_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t cap);

/* ---- ctl_args.c ----------------------------------------------------------- */
typedef struct ctl_ctx ctl_ctx;
typedef struct ctl_args ctl_args;

/* A command: "tenants list", or a group-less one ("me", "status"). */
typedef struct ctl_cmd {
    const char *group;     /* NULL ends a table */
    const char *name;      /* NULL for a group-less command */
    const char *opts;      /* options it takes: "tenant=,all" ('=': has a value) */
    int min_pos, max_pos;  /* positional arguments */
    const char *usage;     /* "tenants get TENANT" */
    const char *help;      /* what it does, its options; lines end with \n */
    int (*run)(ctl_ctx *c, const ctl_args *a);
} ctl_cmd;

#define CTL_MAX_OPTS 32
#define CTL_MAX_POS 8

/* The parsed command line. Values point into argv. */
struct ctl_args {
    const ctl_cmd *cmd;            /* NULL: help or version only */
    const char *group;             /* the group word given (help) */
    int help;                      /* --help / -h / "help" */
    int version;                   /* --version */
    size_t nopts;
    const char *oname[CTL_MAX_OPTS];   /* without the leading "--" */
    const char *oval[CTL_MAX_OPTS];    /* NULL for a flag */
    size_t npos;
    const char *pos[CTL_MAX_POS];
};

/* Options every command takes (before or after the command words). */
#define CTL_GLOBAL_OPTS "url=,key-file=,config=,json,timeout=,cacert=,verbose,help"

/* Parses argv against the NULL-terminated list of command tables. Returns
 * CTL_OK, or CTL_USAGE with a message in err. --key is refused with the
 * reason. */
int ctl_args_parse(int argc, char **argv, const ctl_cmd *const *tables, ctl_args *a,
                   char *err, size_t cap);
/* The last value of an option, or NULL when absent (flags: "" if given). */
const char *ctl_opt(const ctl_args *a, const char *name);
int ctl_flag(const ctl_args *a, const char *name);
/* Whether `name` is in an option list such as "tenant=,all". */
int ctl_opts_has(const char *opts, const char *name, int *takes_value);

/* ---- ctl_conf.c ----------------------------------------------------------- */
typedef struct ctl_conf {
    char url[1024];           /* no trailing slash */
    char key_file[4096];      /* "" when the key came from C360_KEY */
    char cacert[4096];        /* "" = the system's CAs */
    long timeout_ms;
    const char *url_from;     /* "--url", "C360_URL", the config path, "default" */
    const char *key_from;     /* where the key comes from (messages) */
    int key_env;              /* the key is C360_KEY's value */
} ctl_conf;

/* Resolves the settings: flag > environment > config file > default. The
 * config file is --config, else C360_CONFIG, else
 * $XDG_CONFIG_HOME/c360/ctl.json or ~/.config/c360/ctl.json (absent is
 * fine unless named explicitly). Returns CTL_OK, CTL_USAGE (bad flag
 * value) or CTL_LOCAL (config file unreadable or invalid); err says why. */
int ctl_conf_resolve(const ctl_args *a, ctl_conf *cf, char *err, size_t cap);
/* The key text into key[CTL_KEY_MAX] (trailing whitespace cut). CTL_OK,
 * CTL_USAGE (none configured) or CTL_LOCAL (unreadable, empty, bad
 * characters); err says why, never with key bytes. */
int ctl_conf_key(const ctl_conf *cf, char *key, char *err, size_t cap);

/* ---- ctl_time.c ----------------------------------------------------------- */
/* "1735689600000" (ms), "now", "-1h", "-30m", "+2d", "-1h30m" (units ms s m
 * h d w), "2025-03-01", "2025-03-01T10:15:00Z", "...T10:15:00.250+01:00".
 * 0, or -1 for anything else. */
int ctl_time_parse(const char *s, int64_t now_ms, int64_t *out_ms);
/* "2025-03-01T10:15:00Z" (seconds precision, UTC) into buf (>= 32). */
void ctl_time_format(int64_t ms, char *buf, size_t cap);
int64_t ctl_now_ms(void);

/* ---- ctl_table.c ---------------------------------------------------------- */
/* A column: its title and the member it shows ("stats.ok" reaches into
 * objects). Members named *_ms holding integers are shown as times. */
typedef struct ctl_col {
    const char *title;   /* NULL ends a list */
    const char *field;
} ctl_col;

/* Prints items (array of objects) as an aligned table. Columns that no
 * item has are left out; with none left (or cols NULL) the columns are the
 * first item's scalar members. Cell text is made printable (controls
 * become '?'). Prints nothing for an empty array. */
void ctl_table_print(FILE *f, const ctl_col *cols, json_t *items);
/* "key: value" lines, nested objects indented. */
void ctl_object_print(FILE *f, json_t *obj);
/* One value as table cell text into b (sanitized; times formatted). */
void ctl_cell_text(ctl_str *b, const char *field, json_t *v);
/* The member at a dotted path, or NULL. */
json_t *ctl_json_path(json_t *obj, const char *path);

/* ---- ctl_err.c ------------------------------------------------------------ */
/* Prints the error answer (status, body) with its code, message, details
 * and request id (the body's, else rid). */
void ctl_print_api_error(FILE *f, long status, const char *body, size_t len, const char *rid);

/* ---- ctl_http.c ----------------------------------------------------------- */
struct ctl_ctx {
    const ctl_args *args;
    ctl_conf conf;
    int json;          /* --json */
    int verbose;       /* --verbose: method, URL, status, request id on stderr */
    char key[CTL_KEY_MAX];
    int have_key;
    void *curl;        /* CURL *, made on first use */
    char last_rid[80]; /* request id of the last request */
};

/* One request. path_query starts with "/v1/...". The body is a JSON
 * object (borrowed) or NULL ("{}" is sent for POST, PUT and PATCH); raw
 * (if non-NULL) is sent instead, as is: the caller builds and wipes it (a
 * secret). if_match: the version for If-Match, or NULL. On a 2xx answer returns CTL_OK with *resp (NULL for an empty
 * body) and *status; otherwise prints the error (code, message, details,
 * request id) on stderr and returns CTL_API, CTL_NET, CTL_USAGE or
 * CTL_LOCAL. */
int ctl_call(ctl_ctx *c, const char *method, const char *path_query, json_t *body,
             const ctl_str *raw, const char *if_match, json_t **resp, long *status);
void ctl_http_cleanup(ctl_ctx *c);
/* A fresh request id: "ctl-" + 24 hex characters. */
void ctl_request_id(char *buf, size_t cap);

/* ---- ctl_out.c: printing results ------------------------------------------ */
/* JSON of the API on stdout: indented on a terminal, one line otherwise. */
void ctl_print_json(const ctl_ctx *c, json_t *v);
/* A single resource: JSON with --json, else the "key: value" view. */
void ctl_print_object(const ctl_ctx *c, json_t *v);
/* The common tail of a command that sent one request: prints resp as an
 * object (or `done` in table mode when resp is NULL), frees it. */
int ctl_finish(ctl_ctx *c, int rc, json_t *resp, const char *done);
/* Usage error for a command: message, its usage line; returns CTL_USAGE. */
int ctl_usage_err(const ctl_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An option required by the command, or NULL after the usage error. */
const char *ctl_need(const ctl_args *a, const char *name);
/* Parses --name N within [min,max] into *out (absent: dflt). CTL_OK or CTL_USAGE. */
int ctl_opt_int(const ctl_args *a, const char *name, long long min, long long max,
                long long dflt, long long *out);
/* A time option (--since) into ms as decimal text in buf (absent: buf "").
 * CTL_OK or CTL_USAGE. */
int ctl_opt_time(const ctl_args *a, const char *name, char *buf, size_t cap);
/* A JSON value from --NAME TEXT or --NAME-file PATH (NULL when neither);
 * *rc gets CTL_OK, CTL_USAGE or CTL_LOCAL. */
json_t *ctl_opt_json(const ctl_args *a, const char *name, int *rc);
/* A JSON object from a file ("-" = stdin). NULL with the error printed and
 * *rc = CTL_LOCAL. */
json_t *ctl_load_json_file(const char *path, int *rc);
/* Asks for confirmation of a destructive action: --yes, else on a
 * terminal "type WORD to confirm". CTL_OK or CTL_USAGE. */
int ctl_confirm(const ctl_args *a, const char *what, const char *word);
/* Writes text to a new file (mode 0600, O_EXCL). CTL_OK or CTL_LOCAL. */
int ctl_write_private(const char *path, const char *text);

/* ---- ctl_list.c ----------------------------------------------------------- */
/* GET path (may already have a query) with ?limit / ?cursor from the
 * options, following next_cursor with --all; prints a table of cols (or
 * the JSON). `what` names the items in messages ("tenants"). */
int ctl_list(ctl_ctx *c, const ctl_str *path, const ctl_col *cols, const char *what);
#define CTL_LIST_OPTS "limit=,cursor=,all"

/* ---- command tables -------------------------------------------------------- */
extern const ctl_cmd ctl_cmds_meta[];     /* me, plugins (loaded, per tenant) */
extern const ctl_cmd ctl_cmds_tenants[];
extern const ctl_cmd ctl_cmds_keys[];
extern const ctl_cmd ctl_cmds_conns[];
extern const ctl_cmd ctl_cmds_secrets[];
extern const ctl_cmd ctl_cmds_routes[];
extern const ctl_cmd ctl_cmds_logs[];     /* status, logs, oauth */
extern const ctl_cmd ctl_cmds_dlq[];      /* dlq, replay */
extern const ctl_cmd ctl_cmds_audit[];
extern const ctl_cmd ctl_cmds_notify[];
extern const ctl_cmd ctl_cmds_dsr[];
extern const ctl_cmd *const ctl_all_cmds[];  /* NULL-terminated (ctl_main.c) */

/* Path helpers shared by the command files: "/v1/tenants/<T>" etc. */
void ctl_path_tenant(ctl_str *b, const char *tenant);
void ctl_path_conn(ctl_str *b, const char *tenant, const char *conn);

#endif
