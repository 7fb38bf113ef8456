/* log.c -- structured JSON log lines. Each line is assembled in a stack
 * buffer and written with one write(2), so lines from several threads never
 * interleave. Oversized lines are truncated, never split. */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

static atomic_int g_level = CH_LOG_INFO;
static atomic_int g_fd = -1;

void ch_log_set_level(int level) { atomic_store(&g_level, level); }
int ch_log_get_level(void) { return atomic_load(&g_level); }
void ch_log_set_fd(int fd) { atomic_store(&g_fd, fd); }

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int ch_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

const char *ch_log_level_name(int level)
{
    return level >= 0 && level < 4 ? level_names[level] : "error";
}

unsigned ch_log_escape(char *out, unsigned cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    unsigned n = 0;
    if (!s) s = "";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[6];
        unsigned k;
        if (c == '"' || c == '\\') { tmp[0] = '\\'; tmp[1] = (char)c; k = 2; }
        else if (c == '\n') { tmp[0] = '\\'; tmp[1] = 'n'; k = 2; }
        else if (c == '\r') { tmp[0] = '\\'; tmp[1] = 'r'; k = 2; }
        else if (c == '\t') { tmp[0] = '\\'; tmp[1] = 't'; k = 2; }
        else if (c < 0x20 || c == 0x7f) {
            tmp[0] = '\\'; tmp[1] = 'u'; tmp[2] = '0'; tmp[3] = '0';
            tmp[4] = hex[c >> 4]; tmp[5] = hex[c & 15]; k = 6;
        } else { tmp[0] = (char)c; k = 1; }
        if (n + k > cap) break;
        memcpy(out + n, tmp, k);
        n += k;
    }
    return n;
}

typedef struct line { char buf[LINE_MAX_BYTES]; unsigned len; } line;

static void put(line *l, const char *s, unsigned n)
{
    /* Keep room for the closing "}\n". */
    unsigned room = LINE_MAX_BYTES - 2 - l->len;
    if (n > room) n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(line *l, const char *s) { put(l, s, (unsigned)strlen(s)); }

static void put_json_string(line *l, const char *s)
{
    put(l, "\"", 1);
    /* Leave room for the closing quote and brace. */
    unsigned room = l->len + 4 < LINE_MAX_BYTES ? LINE_MAX_BYTES - 4 - l->len : 0;
    l->len += ch_log_escape(l->buf + l->len, room, s);
    put(l, "\"", 1);
}

void ch_logv(int level, const char *msg, va_list kv)
{
    if (level < atomic_load(&g_level)) return;
    int saved_errno = errno;
    line l;
    l.len = 0;

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tbuf[64];
    snprintf(tbuf, sizeof tbuf, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    put_str(&l, tbuf);
    put_str(&l, "\"level\":\"");
    put_str(&l, ch_log_level_name(level));
    put_str(&l, "\",\"msg\":");
    put_json_string(&l, msg);
    for (;;) {
        const char *k = va_arg(kv, const char *);
        if (!k) break;
        const char *v = va_arg(kv, const char *);
        put(&l, ",", 1);
        put_json_string(&l, k);
        put(&l, ":", 1);
        put_json_string(&l, v ? v : "");
    }
    l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    int fd = atomic_load(&g_fd);
    if (fd < 0) fd = STDERR_FILENO;
    ssize_t w = write(fd, l.buf, l.len);
    (void)w; /* nowhere to report a failed log write */
    errno = saved_errno;
}

void ch_log(int level, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    ch_logv(level, msg, ap);
    va_end(ap);
}
