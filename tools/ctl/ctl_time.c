/* ctl_time.c -- times on the command line and in tables. The API speaks
 * milliseconds since the epoch (*_ms); people speak "-1h" and RFC 3339.
 * Civil dates are converted with Howard Hinnant's days-from-civil
 * algorithm (proleptic Gregorian, UTC): no timegm(), which C11 lacks, and
 * no dependence on the local time zone. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, unsigned m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* Exactly n digits at *p into *out. */
static int digits(const char **p, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (unsigned)(c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int parse_rfc3339(const char *s, int64_t *out)
{
    const char *p = s;
    unsigned y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || (int)d > days_in_month(y, mo)) return -1;
    int64_t off_min = 0;
    if (*p) {
        if (*p != 'T' && *p != 't' && *p != ' ') return -1;
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi)) return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec)) return -1;
            if (*p == '.') {
                p++;
                int nd = 0;
                while (*p >= '0' && *p <= '9') {
                    if (nd < 3) frac_ms = frac_ms * 10 + (unsigned)(*p - '0');
                    nd++;
                    p++;
                }
                if (nd == 0) return -1;
                for (; nd < 3; nd++) frac_ms *= 10;
            }
        }
        if (h > 23 || mi > 59 || sec > 60) return -1;
        if (sec == 60) sec = 59; /* a leap second: close enough for a filter */
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1;
            unsigned oh, om;
            if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
                return -1;
            off_min = sign * (int64_t)(oh * 60 + om);
        } else {
            return -1; /* a time needs its zone: local time would be a guess */
        }
        if (*p) return -1;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off_min * 60;
    *out = secs * 1000 + frac_ms;
    return 0;
}

static int parse_relative(const char *s, int64_t now, int64_t *out)
{
    int sign = s[0] == '-' ? -1 : 1;
    const char *p = s + 1;
    int64_t total = 0;
    if (!*p) return -1;
    while (*p) {
        if (*p < '0' || *p > '9') return -1;
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > 1000000000) return -1;
            n = n * 10 + (*p++ - '0');
        }
        int64_t unit;
        if (strncmp(p, "ms", 2) == 0) unit = 1, p += 2;
        else if (*p == 's') unit = 1000, p++;
        else if (*p == 'm') unit = 60000, p++;
        else if (*p == 'h') unit = 3600000, p++;
        else if (*p == 'd') unit = 86400000, p++;
        else if (*p == 'w') unit = 7 * 86400000LL, p++;
        else return -1;
        total += n * unit;
        if (total > 100LL * 366 * 86400000) return -1;
    }
    *out = now + sign * total;
    return 0;
}

int ctl_time_parse(const char *s, int64_t now_ms, int64_t *out_ms)
{
    if (!s || !*s) return -1;
    if (strcmp(s, "now") == 0) {
        *out_ms = now_ms;
        return 0;
    }
    if (s[0] == '-' || s[0] == '+') return parse_relative(s, now_ms, out_ms);
    size_t n = strspn(s, "0123456789");
    if (n == strlen(s)) {
        if (n > 15) return -1; /* beyond year 33000 */
        int64_t v = 0;
        for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
        *out_ms = v;
        return 0;
    }
    return parse_rfc3339(s, out_ms);
}

void ctl_time_format(int64_t ms, char *buf, size_t cap)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(buf, cap, "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, m, d,
             (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60), (unsigned)(rem % 60));
}

int64_t ctl_now_ms(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
