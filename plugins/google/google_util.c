/* google_util.c -- small pure helpers: query strings, base64 in both
 * alphabets, times, excerpts, ids, and the Pub/Sub push body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google.h"

bool g_query_get(const char *query, const char *name, char *out, size_t cap, size_t *len)
{
    size_t nl = strlen(name);
    const char *q = query != NULL ? query : "";
    while (*q != '\0') {
        const char *end = strchr(q, '&');
        size_t seg = end != NULL ? (size_t)(end - q) : strlen(q);
        if (seg > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
            size_t o = 0;
            for (size_t i = nl + 1; i < seg; i++) {
                char ch = q[i];
                if (ch == '+') ch = ' ';
                else if (ch == '%') {
                    if (i + 2 >= seg) return false;
                    int a = c360kit_hexval(q[i + 1]), b = c360kit_hexval(q[i + 2]);
                    if (a < 0 || b < 0) return false;
                    ch = (char)(a * 16 + b);
                    i += 2;
                }
                if (o + 1 >= cap || ch == '\0') return false;
                out[o++] = ch;
            }
            out[o] = '\0';
            if (len != NULL) *len = o;
            return true;
        }
        if (end == NULL) break;
        q = end + 1;
    }
    return false;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

uint8_t *g_b64_decode(const char *in, size_t len, size_t max, size_t *out_len)
{
    while (len > 0 && in[len - 1] == '=') len--;
    if (len % 4 == 1 || len / 4 * 3 + 3 > max + 3) return NULL;
    uint8_t *out = malloc(len / 4 * 3 + 4);
    if (out == NULL) return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (o > max) {
        free(out);
        return NULL;
    }
    out[o] = 0;
    *out_len = o;
    return out;
}

void g_rfc3339_ms(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        /* a date no calendar holds (a hostile internalDate) */
        snprintf(out, 32, "1970-01-01T00:00:00Z");
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void g_excerpt(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0) return;
    for (size_t i = 0; in != NULL && i < len && o + 1 < cap; i++)
        out[o++] = (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? ' ' : in[i];
    out[o] = '\0';
}

bool g_id_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > G_ID_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

bool g_digits_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 20) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

bool g_push_parse(const uint8_t *body, size_t len, g_push *out, const char **why)
{
    memset(out, 0, sizeof *out);
    json_t *root = json_loadb((const char *)body, len, 0, NULL);
    const json_t *msg = json_object_get(root, "message");
    const char *mid = g_str(msg, "messageId");
    if (mid == NULL) mid = g_str(msg, "message_id");
    const char *data = g_str(msg, "data");
    bool ok = false;
    *why = "not a Pub/Sub push body (message.messageId, message.data)";
    if (mid != NULL && data != NULL && strlen(mid) > 0 && strlen(mid) < sizeof out->message_id) {
        bool printable = true;
        for (const char *p = mid; *p != '\0'; p++) printable &= *p > 0x20 && *p < 0x7f;
        size_t dl = 0;
        uint8_t *d = printable ? g_b64_decode(data, strlen(data), 4096, &dl) : NULL;
        json_t *inner = d != NULL ? json_loadb((const char *)d, dl, 0, NULL) : NULL;
        free(d);
        const char *email = g_str(inner, "emailAddress");
        const json_t *h = json_object_get(inner, "historyId");
        char hid[32] = "";
        if (json_is_integer(h) && json_integer_value(h) > 0)
            snprintf(hid, sizeof hid, "%lld", (long long)json_integer_value(h));
        else if (json_is_string(h))
            snprintf(hid, sizeof hid, "%s", json_string_value(h));
        *why = "message.data is not base64 of {emailAddress, historyId}";
        if (email != NULL && strlen(email) < sizeof out->email && g_digits_ok(hid)) {
            snprintf(out->message_id, sizeof out->message_id, "%s", mid);
            snprintf(out->email, sizeof out->email, "%s", email);
            snprintf(out->history_id, sizeof out->history_id, "%s", hid);
            ok = true;
        }
        json_decref(inner);
    }
    json_decref(root);
    return ok;
}
