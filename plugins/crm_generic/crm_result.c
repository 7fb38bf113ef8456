/* crm_result.c -- what the customer's endpoint answered, in c360 terms:
 * which statuses are delivered, retried, gone or refused for good; how long
 * Retry-After asks to wait; the short excerpt of a refusal that the
 * customer sees in the delivery log and the dead letter; and whether a
 * rate-budget wait is slept or handed back. Pure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm.h"

#define CRM_DAY_MS (24u * 3600u * 1000u)

crm_verdict crm_classify(int32_t s)
{
    if (s >= 200 && s <= 299)
        return CRM_V_OK;
    if (s == 408 || s == 429 || (s >= 500 && s <= 599))
        return CRM_V_RETRY;
    if (s == 410)
        return CRM_V_GONE;
    if (s == 401 || s == 403 || s == 407)
        return CRM_V_AUTH;
    if (s >= 300 && s <= 399)
        return CRM_V_REDIRECT;
    if (s == 400 || s == 409 || s == 413 || s == 422)
        return CRM_V_SPLIT;
    /* Other 4xx, 1xx that curl did not swallow, and nonsense. */
    return CRM_V_ERROR;
}

/* --- the rate budget ------------------------------------------------------ */

uint32_t crm_rl_pace_ms(uint32_t max_rps)
{
    if (max_rps == 0)
        max_rps = 1;
    return (1000u + max_rps - 1) / max_rps;
}

crm_rl_step crm_rl_plan(uint32_t wait_ms, uint32_t max_rps, int64_t room_ms,
                        uint32_t throttled_slept_ms, bool *paced)
{
    /* The host's budget is GCRA: a refused take of an unslowed bucket
     * never waits more than one unit's step (rounded up to ms, hence the
     * +2); the slowdown after a 429 stretches steps 10x and a pause
     * answers with its own length, both far beyond. A quarter of slack
     * keeps a mild slowdown (usage reported just over 90 %) paced. */
    uint32_t pace = crm_rl_pace_ms(max_rps);
    bool own = wait_ms <= pace + pace / 4 + 2;
    if (paced)
        *paced = own;
    if (!own && (uint64_t)throttled_slept_ms + wait_ms > CRM_RL_THROTTLED_SLEEP_MS)
        return CRM_RL_DEFER_THROTTLED;
    if ((int64_t)wait_ms > room_ms)
        return own ? CRM_RL_DEFER_TIME : CRM_RL_DEFER_THROTTLED;
    return CRM_RL_SLEEP;
}

/* --- HTTP-date (RFC 9110 section 5.6.7) -------------------------------- */

static const char *const crm_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int crm_month(const char *t)
{
    for (int i = 0; i < 12; i++)
        if (strcmp(t, crm_months[i]) == 0)
            return i + 1;
    return 0;
}

static bool crm_alpha_word(const char *t)
{
    if (!*t)
        return false;
    for (; *t; t++)
        if (!((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z')))
            return false;
    return true;
}

/* A decimal of 1..max_digits digits. */
static bool crm_num(const char *t, int max_digits, long *out)
{
    long v = 0;
    int n = 0;
    for (; *t; t++, n++) {
        if (*t < '0' || *t > '9' || n >= max_digits)
            return false;
        v = v * 10 + (*t - '0');
    }
    if (n == 0)
        return false;
    *out = v;
    return true;
}

static bool crm_hms(const char *t, long *h, long *m, long *s)
{
    char a[3], b[3], c[3];
    if (strlen(t) != 8 || t[2] != ':' || t[5] != ':')
        return false;
    memcpy(a, t, 2);
    memcpy(b, t + 3, 2);
    memcpy(c, t + 6, 2);
    a[2] = b[2] = c[2] = '\0';
    return crm_num(a, 2, h) && crm_num(b, 2, m) && crm_num(c, 2, s) && *h < 24 &&
           *m < 60 && *s <= 60;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil): no timegm(), no time zone. */
static int64_t crm_days(long y, long m, long d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool crm_http_date(const char *s, int64_t *epoch_s)
{
    char buf[64], *tok[8];
    int n = 0;
    size_t len = strlen(s);
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len + 1);
    for (char *p = buf; *p && n < 8;) {
        while (*p == ' ' || *p == ',' || *p == '-')
            *p++ = '\0';
        if (!*p)
            break;
        tok[n++] = p;
        while (*p && *p != ' ' && *p != ',' && *p != '-')
            p++;
    }
    long day, mon, year, h, mi, sec;
    if (n < 5 || !crm_alpha_word(tok[0]))
        return false;
    if (n == 5 && crm_month(tok[1])) {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        mon = crm_month(tok[1]);
        if (!crm_num(tok[2], 2, &day) || !crm_hms(tok[3], &h, &mi, &sec) ||
            !crm_num(tok[4], 4, &year))
            return false;
    } else if (n == 6 && strcmp(tok[5], "GMT") == 0) {
        /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT;
         * RFC 850:     Sunday, 06-Nov-94 08:49:37 GMT */
        mon = crm_month(tok[2]);
        if (!mon || !crm_num(tok[1], 2, &day) || !crm_num(tok[3], 4, &year) ||
            !crm_hms(tok[4], &h, &mi, &sec))
            return false;
        if (strlen(tok[3]) == 2)
            year += year < 70 ? 2000 : 1900;
        else if (strlen(tok[3]) != 4)
            return false;
    } else {
        return false;
    }
    if (day < 1 || day > 31 || year < 1970 || year > 9999)
        return false;
    *epoch_s = crm_days(year, mon, day) * 86400 + h * 3600 + mi * 60 + sec;
    return true;
}

int32_t crm_defer_status(uint16_t host_abi_minor)
{
    return host_abi_minor >= 5 ? C360_THROTTLED : C360_RETRY;
}

bool crm_retry_after(const char *v, int64_t now_ms, uint32_t *ms)
{
    if (!v)
        return false;
    while (*v == ' ' || *v == '\t')
        v++;
    char buf[64];
    size_t len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, v, len);
    buf[len] = '\0';
    long secs;
    if (crm_num(buf, 12, &secs)) {
        *ms = secs >= CRM_DAY_MS / 1000 ? CRM_DAY_MS : (uint32_t)secs * 1000u;
        return true;
    }
    int64_t at;
    if (!crm_http_date(buf, &at))
        return false;
    int64_t wait = at * 1000 - now_ms;
    *ms = wait <= 0 ? 0 : wait >= CRM_DAY_MS ? CRM_DAY_MS : (uint32_t)wait;
    return true;
}

/* --- the excerpt --------------------------------------------------------- */

/* Length of a valid UTF-8 sequence at p (at most n bytes), 0 if invalid:
 * overlong forms, surrogates and code points past U+10FFFF are invalid. */
static size_t crm_utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    /* C1 controls (U+0080..U+009F) are controls too. */
    if (len == 2 && cp < 0xa0)
        return 0;
    return len;
}

void crm_excerpt(const uint8_t *body, size_t len, const char *const *secrets,
                 const size_t *secret_lens, size_t nsecrets, char *out,
                 size_t cap)
{
    static const char red[] = "[redacted]";
    out[0] = '\0';
    if (!body || len == 0 || cap == 0)
        return;
    /* Enough of the body that no secret can straddle the part shown. */
    size_t longest = 0;
    for (size_t i = 0; i < nsecrets; i++)
        if (secrets[i] && secret_lens[i] > longest)
            longest = secret_lens[i];
    size_t win = len < CRM_EXCERPT_MAX + longest ? len : CRM_EXCERPT_MAX + longest;

    /* 1. Redact, on the raw bytes. The output only shrinks or grows by
     * "[redacted]" per hit of >= 4 bytes: at most 10/4 of the input. */
    unsigned char *tmp = malloc(win * 3 + 1);
    if (!tmp)
        return;
    size_t t = 0;
    for (size_t i = 0; i < win;) {
        size_t hit = 0;
        for (size_t k = 0; k < nsecrets && !hit; k++) {
            size_t sl = secrets[k] ? secret_lens[k] : 0;
            if (sl >= 4 && len - i >= sl && memcmp(body + i, secrets[k], sl) == 0)
                hit = sl;
        }
        if (hit) {
            memcpy(tmp + t, red, sizeof red - 1);
            t += sizeof red - 1;
            i += hit;
        } else {
            tmp[t++] = body[i++];
        }
    }

    /* 2. Controls and invalid UTF-8 become spaces, runs of spaces one,
     * cut on a character boundary. */
    size_t max = cap - 1 < CRM_EXCERPT_MAX ? cap - 1 : CRM_EXCERPT_MAX;
    size_t o = 0;
    bool space = true; /* also drops leading spaces */
    for (size_t i = 0; i < t;) {
        size_t l = crm_utf8_len(tmp + i, t - i);
        bool ctl = l == 0 || (l == 1 && (tmp[i] < 0x20 || tmp[i] == 0x7f));
        if (ctl || tmp[i] == ' ') {
            i += l ? l : 1;
            if (!space && o < max)
                out[o++] = ' ';
            space = true;
            continue;
        }
        if (o + l > max)
            break;
        memcpy(out + o, tmp + i, l);
        o += l;
        i += l;
        space = false;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    free(tmp);
}
