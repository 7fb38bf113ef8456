/* ctl_out.c -- what the command files share: printing results, usage
 * errors, option values (integers, times, JSON), confirmations of
 * destructive actions and private output files. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

void ctl_print_json(const ctl_ctx *c, json_t *v)
{
    (void)c;
    size_t flags = JSON_ENCODE_ANY | (isatty(STDOUT_FILENO) ? JSON_INDENT(2) : JSON_COMPACT);
    char *s = json_dumps(v, flags);
    if (s) printf("%s\n", s);
    free(s);
}

void ctl_print_object(const ctl_ctx *c, json_t *v)
{
    if (!v) return;
    if (c->json) ctl_print_json(c, v);
    else ctl_object_print(stdout, v);
}

int ctl_finish(ctl_ctx *c, int rc, json_t *resp, const char *done)
{
    if (rc == CTL_OK) {
        if (resp) ctl_print_object(c, resp);
        else if (done && !c->json) printf("%s\n", done);
    }
    json_decref(resp);
    return rc;
}

static void print_usage_line(const ctl_args *a)
{
    if (a->cmd) {
        fprintf(stderr, "usage: c360ctl %s\n", a->cmd->usage);
        fprintf(stderr, "(c360ctl %s%s%s --help for more)\n", a->cmd->group,
                a->cmd->name ? " " : "", a->cmd->name ? a->cmd->name : "");
    }
}

int ctl_usage_err(const ctl_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("c360ctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    print_usage_line(a);
    return CTL_USAGE;
}

const char *ctl_need(const ctl_args *a, const char *name)
{
    const char *v = ctl_opt(a, name);
    if (!v || !*v) {
        ctl_usage_err(a, "--%s is required here", name);
        return NULL;
    }
    return v;
}

int ctl_opt_int(const ctl_args *a, const char *name, long long min, long long max,
                long long dflt, long long *out)
{
    const char *v = ctl_opt(a, name);
    *out = dflt;
    if (!v) return CTL_OK;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max)
        return ctl_usage_err(a, "--%s must be an integer in %lld..%lld (got '%.40s')", name, min,
                             max, v);
    *out = x;
    return CTL_OK;
}

int ctl_opt_time(const ctl_args *a, const char *name, char *buf, size_t cap)
{
    const char *v = ctl_opt(a, name);
    buf[0] = '\0';
    if (!v) return CTL_OK;
    int64_t ms;
    if (ctl_time_parse(v, ctl_now_ms(), &ms) < 0 || ms < 0)
        return ctl_usage_err(a, "--%s: '%.60s' is not a time (use milliseconds since the epoch, "
                                "RFC 3339 like 2025-03-01T10:00:00Z, or relative like -1h, "
                                "-30m, -2d)",
                             name, v);
    snprintf(buf, cap, "%lld", (long long)ms);
    return CTL_OK;
}

json_t *ctl_load_json_file(const char *path, int *rc)
{
    char *text = NULL;
    size_t len = 0;
    char err[128];
    *rc = CTL_OK;
    if (ctl_read_file(path, CTL_FILE_MAX, &text, &len, err, sizeof err) < 0) {
        fprintf(stderr, "c360ctl: %s: %s\n", strcmp(path, "-") ? path : "stdin", err);
        *rc = CTL_LOCAL;
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    ctl_wipe(text, len); /* a connection file may carry credentials */
    free(text);
    if (!j) {
        fprintf(stderr, "c360ctl: %s:%d:%d: %s\n", strcmp(path, "-") ? path : "stdin", je.line,
                je.column, je.text);
        *rc = CTL_LOCAL;
    }
    return j;
}

json_t *ctl_opt_json(const ctl_args *a, const char *name, int *rc)
{
    char fname[64];
    snprintf(fname, sizeof fname, "%s-file", name);
    const char *text = ctl_opt(a, name), *file = ctl_opt(a, fname);
    *rc = CTL_OK;
    if (text && file) {
        *rc = ctl_usage_err(a, "give --%s or --%s, not both", name, fname);
        return NULL;
    }
    if (file) return ctl_load_json_file(file, rc);
    if (!text) return NULL;
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!j) *rc = ctl_usage_err(a, "--%s: not JSON: %s", name, je.text);
    return j;
}

int ctl_confirm(const ctl_args *a, const char *what, const char *word)
{
    if (ctl_flag(a, "yes")) return CTL_OK;
    if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
        return ctl_usage_err(a, "%s cannot be undone: add --yes to confirm", what);
    fprintf(stderr, "%s cannot be undone. Type '%s' to confirm: ", what, word);
    char line[256];
    if (!fgets(line, sizeof line, stdin)) return CTL_USAGE;
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, word) != 0) {
        fputs("c360ctl: not confirmed; nothing done\n", stderr);
        return CTL_USAGE;
    }
    return CTL_OK;
}

int ctl_write_private(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "c360ctl: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (an existing file is never overwritten)" : "");
        return CTL_LOCAL;
    }
    size_t n = strlen(text), off = 0;
    int ok = 1;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            ok = 0;
            break;
        }
        off += (size_t)w;
    }
    if (ok && write(fd, "\n", 1) != 1) ok = 0;
    if (close(fd) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "c360ctl: %s: write failed: %s\n", path, strerror(errno));
        unlink(path);
        return CTL_LOCAL;
    }
    return CTL_OK;
}

void ctl_path_tenant(ctl_str *b, const char *tenant)
{
    ctl_str_add(b, "/v1/tenants");
    ctl_str_seg(b, tenant);
}

void ctl_path_conn(ctl_str *b, const char *tenant, const char *conn)
{
    ctl_path_tenant(b, tenant);
    ctl_str_add(b, "/connections");
    ctl_str_seg(b, conn);
}
