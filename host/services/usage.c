/* usage.c -- see usage.h. Header shapes: /work/shared/reference/providers.md
 * and docs/ratelimits.md. */
#include "usage.h"

#include <ctype.h>
#include <math.h> /* isfinite only: c360core does not link libm */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "log.h"

/* A plugin may hand us a response it built itself: never walk more
 * headers than any real response has. */
#define MAX_HEADERS 1024
/* Bounds on the JSON of X-Business-Use-Case-Usage: ids, entries per id. */
#define MAX_BUC_IDS 64
#define MAX_BUC_ENTRIES 64

#define DAY_MS 86400000LL

typedef struct reading {
    int found;
    double usage;      /* percent, may be fractional until the end */
    uint64_t pause_ms;
} reading;

/* Ceiling of a finite value >= 0, capped at cap (libm-free). */
static uint64_t ceil_cap(double d, uint64_t cap)
{
    if (d >= (double)cap) return cap;
    uint64_t i = (uint64_t)d;
    return (double)i < d ? i + 1 : i;
}

static void malformed(const char *header, const char *why)
{
    ch_log(CH_LOG_DEBUG, "ratelimit: usage header ignored", "header", header,
           "reason", why, NULL);
}

static void add_usage(reading *rd, double pct)
{
    rd->found = 1;
    if (pct > rd->usage) rd->usage = pct;
}

static void add_pause(reading *rd, uint64_t ms)
{
    rd->found = 1;
    if (ms > CH_USAGE_MAX_PAUSE_MS) ms = CH_USAGE_MAX_PAUSE_MS;
    if (ms > rd->pause_ms) rd->pause_ms = ms;
}

static const char *header(const c360_http_response *resp, const char *name)
{
    uint32_t n = resp->header_count < MAX_HEADERS ? resp->header_count : MAX_HEADERS;
    if (!resp->headers) return NULL;
    for (uint32_t i = 0; i < n; i++) {
        const c360_header *h = &resp->headers[i];
        /* Names are lower-case from the host; a plugin-built response may
         * not be, and case never matters in HTTP. */
        if (h->name && h->value && strcasecmp(h->name, name) == 0) {
            if (strnlen(h->value, CH_USAGE_MAX_VALUE + 1) > CH_USAGE_MAX_VALUE) {
                malformed(name, "value too long");
                return NULL;
            }
            return h->value;
        }
    }
    return NULL;
}

/* A JSON number that is a usable percentage or duration: finite, >= 0. */
static int json_num(const json_t *v, double *out)
{
    if (!v || !json_is_number(v)) return 0;
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0) return 0;
    *out = d;
    return 1;
}

static json_t *load_object(const char *name, const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (!j || !json_is_object(j)) {
        malformed(name, j ? "not a JSON object" : "not JSON");
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The counters Meta reports in X-App-Usage, X-Page-Usage and each entry of
 * X-Business-Use-Case-Usage: the highest one is how close we are. */
static int meta_counters(const json_t *obj, double *max)
{
    static const char *const names[] = {"call_count", "total_cputime", "total_time"};
    int any = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        double d;
        if (json_num(json_object_get(obj, names[i]), &d)) {
            if (!any || d > *max) *max = d;
            any = 1;
        }
    }
    return any;
}

static void meta_app(reading *rd, const char *name, const char *text)
{
    json_t *j = load_object(name, text);
    if (!j) return;
    double max = 0;
    if (meta_counters(j, &max)) add_usage(rd, max);
    else malformed(name, "no counters");
    json_decref(j);
}

static void meta_buc(reading *rd, const char *name, const char *text)
{
    json_t *j = load_object(name, text);
    if (!j) return;
    const char *id;
    json_t *list;
    int ids = 0, any = 0;
    json_object_foreach(j, id, list) {
        if (++ids > MAX_BUC_IDS) break;
        if (!json_is_array(list)) continue;
        size_t n = json_array_size(list);
        if (n > MAX_BUC_ENTRIES) n = MAX_BUC_ENTRIES;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(list, i);
            if (!json_is_object(e)) continue;
            double max = 0, eta;
            if (meta_counters(e, &max)) { add_usage(rd, max); any = 1; }
            /* Minutes until Meta lets this use case call again: a wait. */
            if (json_num(json_object_get(e, "estimated_time_to_regain_access"), &eta) && eta > 0) {
                add_pause(rd, ceil_cap(eta * 60000.0, CH_USAGE_MAX_PAUSE_MS));
                any = 1;
            }
        }
    }
    if (!any) malformed(name, "no usable entry");
    json_decref(j);
}

static void meta_ad_account(reading *rd, const char *name, const char *text)
{
    json_t *j = load_object(name, text);
    if (!j) return;
    double pct, reset;
    if (json_num(json_object_get(j, "acc_id_util_pct"), &pct)) {
        add_usage(rd, pct);
        /* Seconds until the account's usage resets: only a wait once the
         * account is actually throttled. */
        if (pct >= 100 && json_num(json_object_get(j, "reset_time_duration"), &reset) && reset > 0)
            add_pause(rd, ceil_cap(reset * 1000.0, CH_USAGE_MAX_PAUSE_MS));
    } else {
        malformed(name, "no acc_id_util_pct");
    }
    json_decref(j);
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

/* A leading decimal integer, as in "100" or the IETF draft's "100, 100;w=60":
 * digits, then the end or a separator. */
static int leading_uint(const char *s, uint64_t *out)
{
    s = skip_ws(s);
    if (!isdigit((unsigned char)*s)) return -1;
    uint64_t v = 0;
    int digits = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (++digits > 15) return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    s = skip_ws(s);
    if (*s && *s != ',' && *s != ';') return -1;
    *out = v;
    return 0;
}

static int month_of(const char *m)
{
    static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++)
        if (strcasecmp(m, names[i]) == 0) return i;
    return -1;
}

/* Epoch milliseconds of a UTC civil time; -1 if a field is out of range
 * (timegm would silently normalise 31 Feb). */
static int64_t civil_ms(int year, int mon0, int day, int h, int mi, int s)
{
    if (year < 1970 || year > 9999 || mon0 < 0 || mon0 > 11 || day < 1 || day > 31 ||
        h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon0;
    tm.tm_mday = day;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != day) return -1;
    return (int64_t)t * 1000;
}

static int at_end(const char *s) { return *skip_ws(s) == '\0'; }

/* HTTP-date in its three forms (RFC 9110 5.6.7). */
static int64_t http_date_ms(const char *v)
{
    char wd[16], mon[4];
    int day, year, h, mi, s, n = -1;
    if (sscanf(v, "%15[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n",
               wd, &day, mon, &year, &h, &mi, &s, &n) == 7 && n > 0 && at_end(v + n))
        return civil_ms(year, month_of(mon), day, h, mi, s);
    n = -1;
    if (sscanf(v, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n",
               wd, &day, mon, &year, &h, &mi, &s, &n) == 7 && n > 0 && at_end(v + n))
        return civil_ms(year < 70 ? 2000 + year : 1900 + year, month_of(mon), day, h, mi, s);
    n = -1;
    if (sscanf(v, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n",
               wd, mon, &day, &h, &mi, &s, &year, &n) == 7 && n > 0 && at_end(v + n))
        return civil_ms(year, month_of(mon), day, h, mi, s);
    return -1;
}

/* ISO 8601 / RFC 3339, which Zoom's Retry-After may carry:
 * 2024-05-01T00:00:00Z, with optional fraction and +hh:mm / +hhmm offset. */
static int64_t iso_ms(const char *v)
{
    int year, mon, day, h, mi, s, n = -1;
    char sep;
    if (sscanf(v, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &year, &mon, &day, &sep, &h, &mi, &s, &n) != 7 || n < 0)
        return -1;
    if (sep != 'T' && sep != 't' && sep != ' ') return -1;
    int64_t ms = civil_ms(year, mon - 1, day, h, mi, s);
    if (ms < 0) return -1;
    const char *p = v + n;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p) && digits < 9) { p++; digits++; }
        if (!digits) return -1;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '+' ? 1 : -1, oh, om, k = -1;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5) {
            k = -1;
            if (sscanf(p + 1, "%2d%2d%n", &oh, &om, &k) != 2 || k != 4) return -1;
        }
        if (oh > 23 || om > 59 || oh < 0 || om < 0) return -1;
        ms -= sign * ((int64_t)oh * 3600 + om * 60) * 1000;
        p += 1 + k;
    } else {
        return -1; /* a time without a zone is ambiguous: not believed */
    }
    return at_end(p) ? ms : -1;
}

static uint32_t wait_until(int64_t at_ms, int64_t now_ms)
{
    if (at_ms <= now_ms) return 0;
    int64_t d = at_ms - now_ms;
    return d > (int64_t)CH_USAGE_MAX_PAUSE_MS ? CH_USAGE_MAX_PAUSE_MS : (uint32_t)d;
}

int ch_usage_retry_after(const char *value, int64_t now_ms, uint32_t *pause_ms)
{
    if (!value) return -1;
    const char *v = skip_ws(value);
    uint64_t secs;
    if (isdigit((unsigned char)*v) && strchr(v, '-') == NULL && strchr(v, ':') == NULL) {
        /* Delta seconds: only digits (and trailing blanks). */
        const char *p = v;
        int digits = 0;
        secs = 0;
        while (isdigit((unsigned char)*p)) {
            if (++digits > 12) return -1;
            secs = secs * 10 + (uint64_t)(*p++ - '0');
        }
        if (!at_end(p)) return -1;
        uint64_t ms = secs * 1000;
        *pause_ms = ms > CH_USAGE_MAX_PAUSE_MS ? CH_USAGE_MAX_PAUSE_MS : (uint32_t)ms;
        return 0;
    }
    int64_t at = http_date_ms(v);
    if (at < 0) at = iso_ms(v);
    if (at < 0) return -1;
    *pause_ms = wait_until(at, now_ms);
    return 0;
}

/* X-RateLimit-Limit / -Remaining / -Reset (generic, GitHub-style) and
 * Zoom's X-RateLimit-Type. Returns 1 if the caller should treat a missing
 * Retry-After on a 429 as a short per-second throttle. */
static int ratelimit_headers(reading *rd, const c360_http_response *resp,
                             int64_t now_ms, int have_retry_after)
{
    const char *lim_s = header(resp, "x-ratelimit-limit");
    const char *rem_s = header(resp, "x-ratelimit-remaining");
    const char *reset_s = header(resp, "x-ratelimit-reset");
    const char *type = header(resp, "x-ratelimit-type");
    uint64_t lim = 0, rem = 0;
    int have_lim = lim_s && leading_uint(lim_s, &lim) == 0 && lim > 0;
    int have_rem = rem_s && leading_uint(rem_s, &rem) == 0;
    if (lim_s && !have_lim) malformed("x-ratelimit-limit", "not a positive integer");
    if (rem_s && !have_rem) malformed("x-ratelimit-remaining", "not an integer");
    if (have_lim && have_rem) {
        if (rem > lim) rem = lim;
        /* Integer ceiling: 3 of 10 used is 30 %, not 30.000000000000004. */
        add_usage(rd, (double)(((lim - rem) * 100 + lim - 1) / lim)); // NOLINT(bugprone-integer-division): on purpose, see above
    }
    int daily = type && strncasecmp(skip_ws(type), "daily", 5) == 0;
    if (have_rem && rem == 0 && !have_retry_after) {
        uint64_t reset;
        if (reset_s && leading_uint(reset_s, &reset) == 0) {
            /* Epoch milliseconds, epoch seconds, or delta seconds: the
             * magnitude tells (1e9 s is 2001; no window is 30 years). */
            if (reset >= 1000000000000ULL) add_pause(rd, wait_until((int64_t)reset, now_ms));
            else if (reset >= 1000000000ULL) add_pause(rd, wait_until((int64_t)reset * 1000, now_ms));
            else add_pause(rd, reset * 1000);
        } else if (daily) {
            /* Zoom's daily limits reset at midnight UTC. */
            add_pause(rd, (uint64_t)((now_ms / DAY_MS + 1) * DAY_MS - now_ms));
        }
    }
    return type && !daily;
}

int ch_usage_parse(const c360_http_response *resp, int64_t now_ms, ch_usage *out)
{
    out->usage_pct = 0;
    out->pause_ms = 0;
    if (!resp || resp->struct_size < offsetof(c360_http_response, headers) + sizeof resp->headers)
        return 0;
    reading rd = {0};
    const char *v;
    if ((v = header(resp, "x-app-usage"))) meta_app(&rd, "x-app-usage", v);
    if ((v = header(resp, "x-page-usage"))) meta_app(&rd, "x-page-usage", v);
    if ((v = header(resp, "x-business-use-case-usage"))) meta_buc(&rd, "x-business-use-case-usage", v);
    if ((v = header(resp, "x-ad-account-usage"))) meta_ad_account(&rd, "x-ad-account-usage", v);

    /* Retry-After on a 3xx is about redirects and on a 2xx means nothing:
     * only an error response asks us to wait. */
    int have_retry_after = 0;
    if (resp->status >= 400 && (v = header(resp, "retry-after"))) {
        uint32_t ms;
        if (ch_usage_retry_after(v, now_ms, &ms) == 0) {
            add_pause(&rd, ms);
            have_retry_after = 1;
        } else {
            malformed("retry-after", "neither seconds nor a date");
        }
    }
    int per_second = ratelimit_headers(&rd, resp, now_ms, have_retry_after);

    if (resp->status == 429) {
        /* Throttled: that is 100 % whatever the headers say. Without an
         * explicit wait the rate-limit service pauses for its default --
         * except for a per-second (QPS) limit, which clears in a second. */
        add_usage(&rd, 100);
        if (!rd.pause_ms && per_second) add_pause(&rd, 1000);
    }
    if (!rd.found) return 0;
    out->usage_pct = (uint32_t)ceil_cap(rd.usage, CH_USAGE_MAX_PCT);
    out->pause_ms = (uint32_t)rd.pause_ms;
    return 1;
}
