/* zoom_util.c -- small pure helpers of the zoom plugin: hex, ids, times,
 * Retry-After, excerpts. Bounded, and never trusting their input: webhook
 * bodies and API answers come through these. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "zoom.h"

bool zoom_id_valid(const char *s)
{
    size_t n = 0;
    if (s == NULL) return false;
    for (; s[n] != '\0'; n++) {
        if (n >= ZOOM_ID_MAX) return false;
        char c = s[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.' || c == '=' || c == '+' || c == '/'))
            return false;
    }
    return n > 0;
}

bool zoom_id_from_json(const json_t *v, zoom_id out)
{
    out[0] = '\0';
    if (json_is_string(v)) {
        if (json_string_length(v) > ZOOM_ID_MAX || !zoom_id_valid(json_string_value(v)))
            return false;
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
        return true;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(out, sizeof(zoom_id), "%lld", (long long)json_integer_value(v));
        return true;
    }
    return false;
}

bool zoom_num_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    return n > 0 && n <= ZOOM_NUM_MAX && strspn(s, "0123456789") == n;
}

bool zoom_num_from_json(const json_t *v, zoom_num out)
{
    out[0] = '\0';
    if (json_is_string(v)) {
        if (!zoom_num_valid(json_string_value(v))) return false;
        snprintf(out, sizeof(zoom_num), "%s", json_string_value(v));
        return true;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(out, sizeof(zoom_num), "%lld", (long long)json_integer_value(v));
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d < 9007199254740992.0) || floor(d) != d) return false;
        snprintf(out, sizeof(zoom_num), "%.0f", d);
        return true;
    }
    return false;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int64_t zoom_time_parse(const char *s)
{
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (s == NULL || strlen(s) < 10 || strlen(s) > 40 || !digits(s, 4, &y) || s[4] != '-' ||
        !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
        return -1;
    const char *p = s + 10;
    if (*p == 'T' || *p == ' ') {
        if (strlen(p) < 9 || !digits(p + 1, 2, &h) || p[3] != ':' || !digits(p + 4, 2, &mi) ||
            p[6] != ':' || !digits(p + 7, 2, &se))
            return -1;
        p += 9;
        if (*p == '.')
            for (p++; *p >= '0' && *p <= '9'; p++) {}
    }
    int64_t off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, sign = *p == '-' ? -1 : 1;
        p++;
        if (!digits(p, 2, &oh)) return -1;
        p += 2;
        if (*p == ':') p++;
        if (!digits(p, 2, &om)) return -1;
        p += 2;
        off = sign * (oh * 3600 + om * 60);
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 ||
        y < 1970)
        return -1;
    return c360kit_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 IMF-fixdate). */
static int64_t http_date(const char *s)
{
    static const char mon[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int d, y, h, mi, se;
    if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || !digits(s + 5, 2, &d) ||
        s[7] != ' ' || s[11] != ' ' || !digits(s + 12, 4, &y) || s[16] != ' ' ||
        !digits(s + 17, 2, &h) || s[19] != ':' || !digits(s + 20, 2, &mi) || s[22] != ':' ||
        !digits(s + 23, 2, &se) || strcmp(s + 25, " GMT") != 0)
        return -1;
    int m = 0;
    for (int i = 0; i < 12; i++)
        if (strncmp(s + 8, mon + 3 * i, 3) == 0) m = i + 1;
    if (m == 0 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return -1;
    return c360kit_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + se;
}

#define RETRY_CAP_MS (48LL * 3600 * 1000)

int64_t zoom_retry_after_ms(const char *v, int64_t now_ms)
{
    if (v == NULL) return -1;
    while (*v == ' ') v++;
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == ' ') n--;
    if (n == 0 || n > 40) return -1;
    char b[41];
    memcpy(b, v, n);
    b[n] = '\0';
    int64_t ms;
    if (strspn(b, "0123456789") == n) {
        if (n > 9) return RETRY_CAP_MS;
        ms = strtoll(b, NULL, 10) * 1000;
    } else {
        int64_t t = zoom_time_parse(b);
        if (t < 0) t = http_date(b);
        if (t < 0) return -1;
        ms = t * 1000 - now_ms;
        if (ms < 0) ms = 0;
    }
    return ms > RETRY_CAP_MS ? RETRY_CAP_MS : ms;
}

int64_t zoom_ms_to_midnight(int64_t now_ms)
{
    int64_t day = 86400000LL;
    return day - (now_ms % day);
}

