/* dsr_match.c -- does a stored value hold the data subject? (dsr.h) */
#include "dsr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "apikeys.h"
#include "util.h"

#define RUN_DIGITS_MAX 256

static int is_phone_sep(char c)
{
    return c == ' ' || c == '+' || c == '-' || c == '(' || c == ')' || c == '.' || c == '/';
}

int ch_dsr_subject_parse(const char *email, const char *phone, ch_dsr_subject *s,
                         const char **field, char *why, size_t whycap)
{
    memset(s, 0, sizeof *s);
    *field = NULL;
    if (email && *email) {
        *field = "email";
        size_t n = strlen(email);
        if (n > CH_DSR_EMAIL_MAX) {
            ch_seterr(why, whycap, "longer than %d bytes", CH_DSR_EMAIL_MAX);
            return -1;
        }
        const char *at = strchr(email, '@');
        if (!at || at == email || !at[1] || strchr(at + 1, '@')) {
            ch_seterr(why, whycap, "must be an e-mail address (local@domain)");
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)email[i];
            if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' ||
                c == '"') {
                ch_seterr(why, whycap, "holds a character an address cannot have");
                return -1;
            }
            s->email[i] = (char)tolower(c);
        }
        s->email[n] = '\0';
    }
    if (phone && *phone) {
        *field = "phone";
        size_t n = strlen(phone), d = 0;
        if (n > CH_DSR_PHONE_MAX) {
            ch_seterr(why, whycap, "longer than %d characters", CH_DSR_PHONE_MAX);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (isdigit((unsigned char)phone[i])) {
                if (d >= CH_DSR_PHONE_DIGITS_MAX) {
                    ch_seterr(why, whycap, "has more than %d digits", CH_DSR_PHONE_DIGITS_MAX);
                    return -1;
                }
                s->phone[d++] = phone[i];
            } else if (!is_phone_sep(phone[i])) {
                ch_seterr(why, whycap, "may hold only digits, spaces and + - ( ) . /");
                return -1;
            }
        }
        if (d < CH_DSR_PHONE_DIGITS_MIN) {
            ch_seterr(why, whycap, "needs at least %d digits", CH_DSR_PHONE_DIGITS_MIN);
            return -1;
        }
    }
    if (!s->email[0] && !s->phone[0]) {
        *field = "";
        ch_seterr(why, whycap, "give an email, a phone, or both");
        return -1;
    }
    *field = NULL;
    return 0;
}

void ch_dsr_subject_ref(const ch_dsr_subject *s, char *out, size_t cap)
{
    /* Keyed (HMAC under a key derived from the master keyring): an
     * unkeyed hash of a phone number is reversed by trying them all. */
    unsigned char key[32], h[crypto_auth_hmacsha256_BYTES];
    if (ch_admin_derive_key("c360dsr1", key) != 0) {
        /* No keyring (unit tests): a fixed key, stable like the real one. */
        memset(key, 0, sizeof key);
        memcpy(key, "c360dsr1", 8);
    }
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, sizeof key);
    sodium_memzero(key, sizeof key);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)s->email, strlen(s->email) + 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)s->phone, strlen(s->phone) + 1);
    crypto_auth_hmacsha256_final(&st, h);
    char hex[17];
    sodium_bin2hex(hex, sizeof hex, h, 8);
    snprintf(out, cap, "subject:%s", hex);
}

/* ---- text ---------------------------------------------------------------------- */

/* Characters that would make the text before a match part of a longer
 * local part. RFC 5322 allows more (= / ? ...), but those are far more
 * often separators around an address ("email=ann@x.org") than in one. */
static int local_char(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c >= 0x80;
}

static int email_in(const char *email, const char *t, size_t n)
{
    size_t m = strlen(email);
    if (!m || n < m) return 0;
    for (size_t i = 0; i + m <= n; i++) {
        if (tolower((unsigned char)t[i]) != (unsigned char)email[0]) continue;
        size_t k = 1;
        while (k < m && tolower((unsigned char)t[i + k]) == (unsigned char)email[k]) k++;
        if (k < m) continue;
        /* A whole address: not part of a longer local part before... */
        if (i > 0 && local_char((unsigned char)t[i - 1])) continue;
        /* ...nor of a longer domain after ("x.org" in "x.org.uk"). */
        size_t j = i + m;
        if (j < n) {
            unsigned char c = (unsigned char)t[j];
            if (isalnum(c) || c == '-' || c == '_' || c >= 0x80) continue;
            if (c == '.' && j + 1 < n && isalnum((unsigned char)t[j + 1])) continue;
        }
        return 1;
    }
    return 0;
}

/* Runs of digits and separators; within one, the query's digits must be a
 * whole-group slice of the run's digits: "+1 (555) 010-0000" matches
 * 15550100000 and 5550100000 does not match inside "15550100000". */
static int phone_in(const char *phone, const char *t, size_t n)
{
    size_t m = strlen(phone);
    if (!m) return 0;
    char d[RUN_DIGITS_MAX];
    unsigned char start[RUN_DIGITS_MAX + 1], end[RUN_DIGITS_MAX + 1];
    size_t i = 0;
    while (i < n) {
        if (!isdigit((unsigned char)t[i])) {
            i++;
            continue;
        }
        /* A run from this digit on. */
        size_t nd = 0;
        memset(start, 0, sizeof start);
        memset(end, 0, sizeof end);
        int prev_digit = 0;
        for (; i < n && nd < RUN_DIGITS_MAX; i++) {
            char c = t[i];
            if (isdigit((unsigned char)c)) {
                if (!prev_digit) start[nd] = 1;
                d[nd++] = c;
                prev_digit = 1;
            } else if (is_phone_sep(c)) {
                if (prev_digit) end[nd] = 1;
                prev_digit = 0;
            } else {
                break;
            }
        }
        end[nd] = 1;
        for (size_t s = 0; s + m <= nd; s++)
            if (start[s] && end[s + m] && memcmp(d + s, phone, m) == 0) return 1;
    }
    return 0;
}

int ch_dsr_match_text(const ch_dsr_subject *s, const char *text, size_t n)
{
    if (!text || !n) return 0;
    if (s->email[0] && email_in(s->email, text, n)) return 1;
    if (s->phone[0] && phone_in(s->phone, text, n)) return 1;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Form- and URL-encoded text decoded ('+' is a space); NULL when nothing
 * would change. */
static char *url_decode(const char *t, size_t n, size_t *out_n)
{
    if (!memchr(t, '%', n) && !memchr(t, '+', n)) return NULL;
    char *o = ch_malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int a, b;
        if (t[i] == '%' && i + 2 < n && (a = hexval(t[i + 1])) >= 0 && (b = hexval(t[i + 2])) >= 0) {
            o[k++] = (char)(a * 16 + b);
            i += 2;
        } else {
            o[k++] = t[i] == '+' ? ' ' : t[i];
        }
    }
    o[k] = '\0';
    *out_n = k;
    return o;
}

/* Text as it is, then URL-decoded. */
static int text_both(const ch_dsr_subject *s, const char *v, size_t n)
{
    if (ch_dsr_match_text(s, v, n)) return 1;
    size_t dn = 0;
    char *d = url_decode(v, n, &dn);
    int m = d && ch_dsr_match_text(s, d, dn);
    free(d);
    return m;
}

int ch_dsr_match_json(const ch_dsr_subject *s, const json_t *j)
{
    if (!j) return 0;
    switch (json_typeof(j)) {
    case JSON_STRING:
        return text_both(s, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: {
        if (!s->phone[0]) return 0;
        char num[32];
        long long v = (long long)json_integer_value(j);
        snprintf(num, sizeof num, "%llu", v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
        return strcmp(num, s->phone) == 0;
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            if (text_both(s, k, strlen(k))) return 1;
            if (ch_dsr_match_json(s, v)) return 1;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        json_array_foreach((json_t *)j, i, v)
            if (ch_dsr_match_json(s, v)) return 1;
        return 0;
    }
    default:
        return 0;
    }
}

int ch_dsr_match_value(const ch_dsr_subject *s, const char *v, size_t n)
{
    size_t i = 0;
    while (i < n && isspace((unsigned char)v[i])) i++;
    if (i < n && (v[i] == '{' || v[i] == '[')) {
        json_t *j = json_loadb(v, n, 0, NULL);
        if (j) {
            int m = ch_dsr_match_json(s, j);
            json_decref(j);
            return m;
        }
    }
    return text_both(s, v, n);
}
