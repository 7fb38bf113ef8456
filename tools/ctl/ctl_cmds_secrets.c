/* ctl_cmds_secrets.c -- c360ctl secrets list|put|delete --tenant T --conn C.
 *
 * Secrets are write-only. A value is read from stdin or --from-file, never
 * from argv (ps, shell history), into memory that is wiped after the
 * request; the request body is built by hand for the same reason (a
 * jansson string would be freed unwiped). On a terminal the value is read
 * with echo off. Nothing c360ctl prints ever contains it. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ctl.h"

#define SECRET_MAX (64 * 1024)   /* the host's default secret_max_value */

static const ctl_col cols[] = {
    {"name", "name"},
    {"updated", "updated_ms"},
    {NULL, NULL},
};

static void secrets_path(ctl_str *p, const char *tenant, const char *conn)
{
    ctl_path_conn(p, tenant, conn);
    ctl_str_add(p, "/secrets");
}

static int list(ctl_ctx *c, const ctl_args *a)
{
    const char *tenant = ctl_need(a, "tenant"), *conn = tenant ? ctl_need(a, "conn") : NULL;
    if (!conn) return CTL_USAGE;
    ctl_str p = {0};
    secrets_path(&p, tenant, conn);
    int rc = ctl_list(c, &p, cols, "secrets");
    ctl_str_free(&p);
    return rc;
}

/* The terminal as it was, restored if Ctrl-C interrupts the hidden input
 * (a shell left without echo is a nasty surprise). */
static struct termios saved_tty;

static void restore_and_exit(int sig)
{
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* One line from the terminal with echo off. */
static int read_tty(const char *name, char **out, size_t *len)
{
    struct termios quiet;
    struct sigaction sa, old_int, old_term;
    int have = tcgetattr(STDIN_FILENO, &saved_tty) == 0;
    if (have) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = restore_and_exit;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        quiet = saved_tty;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    fprintf(stderr, "Value of secret %s (not shown): ", name);
    ctl_str b = {0};
    char ch;
    int rc = 0;
    for (;;) {
        ssize_t r = read(STDIN_FILENO, &ch, 1);
        if (r <= 0 || ch == '\n') break;
        if (b.len >= SECRET_MAX) {
            rc = -1;
            break;
        }
        ctl_str_addn(&b, &ch, 1);
    }
    ch = 0;
    if (have) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    fputc('\n', stderr);
    if (rc < 0 || !b.s) {
        ctl_str_wipe(&b);
        return rc < 0 ? -1 : 0;
    }
    *out = b.s;
    *len = b.len;
    return 0;
}

static int put(ctl_ctx *c, const ctl_args *a)
{
    if (a->npos > 1)
        return ctl_usage_err(a, "a secret value is never taken from the command line (it "
                                "would show in `ps` and in shell history): pipe it to stdin or "
                                "give --from-file PATH");
    const char *tenant = ctl_need(a, "tenant"), *conn = tenant ? ctl_need(a, "conn") : NULL;
    if (!conn) return CTL_USAGE;
    const char *file = ctl_opt(a, "from-file"), *name = a->pos[0];

    char *val = NULL;
    size_t len = 0;
    char err[128];
    if (!file && isatty(STDIN_FILENO)) {
        if (read_tty(name, &val, &len) < 0) {
            fprintf(stderr, "c360ctl: the value is longer than %d bytes\n", SECRET_MAX);
            return CTL_LOCAL;
        }
    } else if (ctl_read_file(file ? file : "-", SECRET_MAX, &val, &len, err, sizeof err) < 0) {
        fprintf(stderr, "c360ctl: %s: %s\n", file ? file : "stdin", err);
        return CTL_LOCAL;
    }
    /* "echo s3cret | c360ctl secrets put" means s3cret, not s3cret\n. */
    if (!ctl_flag(a, "keep-newline")) {
        if (len && val[len - 1] == '\n') len--;
        if (len && val[len - 1] == '\r') len--;
    }
    int rc = CTL_OK;
    if (len == 0) {
        fputs("c360ctl: the value is empty; nothing stored\n", stderr);
        rc = CTL_LOCAL;
    } else if (!ctl_utf8_valid(val, len)) {
        fputs("c360ctl: the value is not UTF-8 text (encode binary values, e.g. in base64)\n",
              stderr);
        rc = CTL_LOCAL;
    }
    ctl_str body = {0};
    if (rc == CTL_OK) {
        ctl_str_add(&body, "{\"value\":");
        ctl_str_json(&body, val, len);
        ctl_str_add(&body, "}");
    }
    if (val) {
        ctl_wipe(val, len);
        free(val);
    }
    if (rc != CTL_OK) return rc;

    ctl_str p = {0};
    secrets_path(&p, tenant, conn);
    ctl_str_seg(&p, name);
    json_t *r;
    rc = ctl_call(c, "PUT", p.s, NULL, &body, NULL, &r, NULL);
    ctl_str_wipe(&body);
    ctl_str_free(&p);
    char done[300];
    snprintf(done, sizeof done, "secret %.200s stored", name);
    if (rc == CTL_OK && !c->json) {
        json_decref(r);
        r = NULL;
    }
    return ctl_finish(c, rc, r, done);
}

static int del(ctl_ctx *c, const ctl_args *a)
{
    const char *tenant = ctl_need(a, "tenant"), *conn = tenant ? ctl_need(a, "conn") : NULL;
    if (!conn) return CTL_USAGE;
    ctl_str p = {0};
    secrets_path(&p, tenant, conn);
    ctl_str_seg(&p, a->pos[0]);
    json_t *r;
    int rc = ctl_call(c, "DELETE", p.s, NULL, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    char done[300];
    snprintf(done, sizeof done, "secret %.200s deleted", a->pos[0]);
    return ctl_finish(c, rc, r, done);
}

const ctl_cmd ctl_cmds_secrets[] = {
    {"secrets", "list", "tenant=,conn=," CTL_LIST_OPTS, 0, 0,
     "secrets list --tenant T --conn C", "Lists a connection's secrets: names and update times only.\n",
     list},
    {"secrets", "put", "tenant=,conn=,from-file=,keep-newline", 1, 2,
     "secrets put NAME --tenant T --conn C [--from-file PATH] < value",
     "Stores a secret, its value read from stdin or from --from-file PATH.\n"
     "Never from the command line. On a terminal the value is typed, not echoed.\n"
     "One trailing newline is dropped unless --keep-newline. At most 64 KiB of\n"
     "UTF-8 text.\n",
     put},
    {"secrets", "delete", "tenant=,conn=", 1, 1, "secrets delete NAME --tenant T --conn C",
     "Deletes a secret.\n", del},
    {NULL},
};
