/*
 * hello.c -- the smallest complete Connector 360 plugin, written to be read.
 *
 * It talks to no provider. It shows the parts every real connector has and
 * the rules of the ABI (sdk/connector_api.h) that are easy to get wrong:
 *
 *   - one exported symbol, C360_PLUGIN_ENTRY, returning a static descriptor
 *     that starts with C360_DESC_HEADER;
 *   - a JSON Schema for the connection config, and validate_config that
 *     reports each bad field with a JSON Pointer through host->config_error;
 *   - per-connection state made in instance_open and freed in instance_close,
 *     never in globals (one plugin serves many tenants at once);
 *   - webhook_verify that never blocks and compares the token in constant
 *     time, and answers a "?challenge=" handshake itself;
 *   - status codes chosen by what the host should do next (retry or not).
 *
 * Build it in the tree (it is the bundled plugin for now), with CMake against
 * an installed SDK (see CMakeLists.txt), or with one line (see README.md):
 *
 *   cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags c360-sdk jansson) \
 *      hello.c -o hello.so $(pkg-config --libs jansson)
 *
 * Then try it without a host:  c360-plugin-check --config \
 *   '{"greeting":"hi","webhook_token":"0123456789abcdef"}' hello.so
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* hello needs nothing newer than ABI 1.0: it declares that, so 1.0 hosts load
 * it too, and it tests each newer service with C360_HOST_HAS before use. Must
 * come before the SDK header. */
#define C360_PLUGIN_REQUIRES_MINOR 0

#include "connector_api.h"

#define HELLO_VERSION "1.0.0"

/* Limits of the config fields. They appear twice, in the schema below (for
 * the admin UI's form) and in validate_config (which must not assume that the
 * schema caught everything), so they are named once here. */
#define HELLO_GREETING_MAX 200
#define HELLO_INTERVAL_MIN 10
#define HELLO_INTERVAL_MAX 86400
#define HELLO_INTERVAL_DEFAULT 60
#define HELLO_TOKEN_MIN 16
#define HELLO_TOKEN_MAX 128
#define HELLO_CHALLENGE_MAX 128

/* The preprocessor turns the numbers above into text for the schema. */
#define HELLO_STR_(x) #x
#define HELLO_STR(x) HELLO_STR_(x)

/* The header a sender puts its token in (the host lower-cases header names,
 * so a plain strcmp is enough). */
#define HELLO_TOKEN_HEADER "x-hello-token"

/* ------------------------------------------------------------------------ */
/* State                                                                     */
/* ------------------------------------------------------------------------ */

/* Plugin-wide state, made in init and freed in fini. The host hands the same
 * pointer to every callback of every connection, possibly on several worker
 * threads at once, so after init it is only ever read. */
typedef struct hello_plugin {
    /* The host table: valid from init until fini returns. Every host service
     * is reached through it; the plugin links nothing from the host. */
    const c360_host_api *host;
} hello_plugin;

/* One connection (one tenant's use of hello). Made in instance_open and freed
 * in instance_close. Its config fields are copied out of the config text,
 * because the text is only valid during instance_open, and are never changed
 * afterwards: a config change closes the instance and opens a new one. That
 * makes them safe to read from webhook_verify on the event loop while a
 * worker runs tick. */
typedef struct hello_conn {
    const c360_instance *inst; /* for the connection id in log lines */
    char *greeting;
    int64_t interval_ms;
    char *token;               /* NULL: this connection takes no webhooks */
    size_t token_len;
    /* The only mutable fields. Two ticks of one connection may overlap (a
     * slow tick and the next scheduled one), so they are atomics rather
     * than plain integers: no lock is needed for a counter and a timestamp. */
    atomic_uint_fast64_t greetings;
    atomic_int_fast64_t last_greeting_ms; /* monotonic; 0 = never */
} hello_conn;

/* The parsed config, before it is copied into a hello_conn. The pointers
 * point into a json_t and live only as long as it does. */
typedef struct hello_cfg {
    const char *greeting;
    int64_t interval_s;
    const char *token;
    size_t token_len;
} hello_cfg;

/* ------------------------------------------------------------------------ */
/* Config                                                                    */
/* ------------------------------------------------------------------------ */

/* The connection config, as JSON Schema draft 2020-12. The admin API serves it
 * to build forms and applies it before validate_config is called.
 *
 * No secrets in here: config is shown to operators, copied into logs and
 * exports. ABI 1.0 has no secrets service yet, so hello cannot show one; its
 * webhook_token is a shared value that a sender repeats in a header, which is
 * enough to show the shape of webhook verification. A real connector verifies
 * an HMAC signature over the raw body with a key kept by the secrets service
 * (a post-1.0 host service; see the C360_HOST_HAS note in hello_init). */
static const char hello_schema[] =
    "{"
    "\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"title\":\"hello\","
    "\"type\":\"object\","
    "\"additionalProperties\":false,"
    "\"required\":[\"greeting\"],"
    "\"properties\":{"
      "\"greeting\":{"
        "\"type\":\"string\",\"minLength\":1,"
        "\"maxLength\":" HELLO_STR(HELLO_GREETING_MAX) ","
        "\"description\":\"Logged on every greeting. Printable text only.\""
      "},"
      "\"interval_s\":{"
        "\"type\":\"integer\","
        "\"minimum\":" HELLO_STR(HELLO_INTERVAL_MIN) ","
        "\"maximum\":" HELLO_STR(HELLO_INTERVAL_MAX) ","
        "\"default\":" HELLO_STR(HELLO_INTERVAL_DEFAULT) ","
        "\"description\":\"Seconds between greetings; ticks in between only "
          "log at debug level.\""
      "},"
      "\"webhook_token\":{"
        "\"type\":\"string\","
        "\"minLength\":" HELLO_STR(HELLO_TOKEN_MIN) ","
        "\"maxLength\":" HELLO_STR(HELLO_TOKEN_MAX) ","
        "\"pattern\":\"^[A-Za-z0-9_-]+$\","
        "\"description\":\"Value senders put in the x-hello-token header. "
          "Not a secret (config never holds secrets). Without it the "
          "connection rejects every webhook.\""
      "}"
    "}"
    "}";

/* Appends `key` to "/" as one JSON Pointer token (RFC 6901): "~" becomes "~0"
 * and "/" becomes "~1", so a key such as "a/b" cannot be mistaken for a path
 * of two levels. Truncates (and stays NUL-terminated) if out is too small;
 * a truncated pointer in an error message is still useful. */
static void hello_pointer(char *out, size_t cap, const char *key)
{
    size_t n = 0;
    if (cap == 0)
        return;
    if (n + 1 < cap)
        out[n++] = '/';
    for (const char *k = key; *k != '\0'; k++) {
        const char *rep = *k == '~' ? "~0" : *k == '/' ? "~1" : NULL;
        size_t len = rep != NULL ? 2 : 1;
        if (n + len >= cap)
            break;
        if (rep != NULL) {
            out[n++] = rep[0];
            out[n++] = rep[1];
        } else {
            out[n++] = *k;
        }
    }
    out[n] = '\0';
}

/* Greetings end up in log lines: refuse control characters so that a config
 * cannot forge or break lines. Bytes >= 0x80 (UTF-8) are fine; Jansson has
 * already checked that the string is valid UTF-8. */
static bool hello_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static bool hello_token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Parses and checks a config. Shared by validate_config (call set: every
 * problem is reported with host->config_error, not just the first, so that a
 * form can mark all bad fields at once) and instance_open (call NULL: the
 * config was validated before, so a failure there is only reported as a
 * whole). On success *root holds the parsed document, which the caller
 * releases with json_decref() once it has copied what it keeps out of *cfg.
 * Returns C360_OK, C360_EINVAL or C360_ENOMEM. */
static int32_t hello_parse(const c360_host_api *host, c360_call *call,
                           const char *json, size_t len, json_t **root,
                           hello_cfg *cfg)
{
    json_error_t jerr;
    int errors = 0;

    *root = NULL;
    memset(cfg, 0, sizeof(*cfg));
    cfg->interval_s = HELLO_INTERVAL_DEFAULT;

/* One place that counts and reports, so no check can forget either. */
#define HELLO_BAD(ptr, msg)                                                 \
    do {                                                                    \
        errors++;                                                           \
        if (call != NULL)                                                   \
            host->config_error(call, (ptr), (msg));                         \
    } while (0)

    /* JSON_REJECT_DUPLICATES: {"greeting":"a","greeting":"b"} is ambiguous
     * (which one did the user mean?), so it is an error, not "last wins".
     * Jansson also refuses "\u0000" in strings (there is no JSON_ALLOW_NUL
     * here), so every string below is exactly as long as strlen says. */
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return C360_ENOMEM;
        /* "" is the JSON Pointer of the whole document. Jansson's text says
         * what is wrong ("duplicate object key near ..."), so pass it on. */
        char msg[JSON_ERROR_TEXT_LENGTH + 48];
        snprintf(msg, sizeof(msg), "not valid JSON (line %d): %s", jerr.line,
                 jerr.text);
        HELLO_BAD("", msg);
        return C360_EINVAL;
    }
    if (!json_is_object(doc)) {
        HELLO_BAD("", "must be a JSON object");
        json_decref(doc);
        return C360_EINVAL;
    }

    json_t *greeting = json_object_get(doc, "greeting");
    if (greeting == NULL) {
        /* A missing member is reported at the pointer it would have. */
        HELLO_BAD("/greeting", "is required");
    } else if (!json_is_string(greeting)) {
        HELLO_BAD("/greeting", "must be a string");
    } else {
        size_t glen = json_string_length(greeting);
        const char *g = json_string_value(greeting);
        if (glen == 0)
            HELLO_BAD("/greeting", "must not be empty");
        else if (glen > HELLO_GREETING_MAX)
            HELLO_BAD("/greeting", "must be at most "
                      HELLO_STR(HELLO_GREETING_MAX) " bytes");
        else if (!hello_printable(g))
            HELLO_BAD("/greeting", "must not contain control characters");
        else
            cfg->greeting = g;
    }

    json_t *interval = json_object_get(doc, "interval_s");
    if (interval != NULL) {
        /* json_is_integer is false for 60.0: JSON Schema's "integer" accepts
         * 60.0, but a config that says 60.0 was most likely not written by
         * hand for hello, so it is refused rather than silently rounded. */
        if (!json_is_integer(interval)) {
            HELLO_BAD("/interval_s", "must be an integer");
        } else {
            json_int_t v = json_integer_value(interval);
            if (v < HELLO_INTERVAL_MIN || v > HELLO_INTERVAL_MAX)
                HELLO_BAD("/interval_s",
                          "must be between " HELLO_STR(HELLO_INTERVAL_MIN)
                          " and " HELLO_STR(HELLO_INTERVAL_MAX));
            else
                cfg->interval_s = (int64_t)v;
        }
    }

    json_t *token = json_object_get(doc, "webhook_token");
    if (token != NULL) {
        if (!json_is_string(token)) {
            HELLO_BAD("/webhook_token", "must be a string");
        } else {
            const char *t = json_string_value(token);
            size_t tlen = json_string_length(token);
            bool chars_ok = true;
            for (size_t i = 0; chars_ok && i < tlen; i++)
                chars_ok = hello_token_char(t[i]);
            if (tlen < HELLO_TOKEN_MIN || tlen > HELLO_TOKEN_MAX)
                HELLO_BAD("/webhook_token",
                          "must be " HELLO_STR(HELLO_TOKEN_MIN) " to "
                          HELLO_STR(HELLO_TOKEN_MAX) " characters long");
            else if (!chars_ok)
                HELLO_BAD("/webhook_token",
                          "may contain only A-Z, a-z, 0-9, '_' and '-'");
            else {
                cfg->token = t;
                cfg->token_len = tlen;
            }
        }
    }

    /* The schema says additionalProperties:false. Check it here too: a typo
     * such as "greting" would otherwise be ignored without a word. */
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value) {
        (void)value;
        if (strcmp(key, "greeting") != 0 && strcmp(key, "interval_s") != 0 &&
            strcmp(key, "webhook_token") != 0) {
            char ptr[96];
            hello_pointer(ptr, sizeof(ptr), key);
            HELLO_BAD(ptr, "unknown setting");
        }
    }
#undef HELLO_BAD

    if (errors > 0) {
        json_decref(doc);
        memset(cfg, 0, sizeof(*cfg));
        return C360_EINVAL;
    }
    *root = doc;
    return C360_OK;
}

/* ------------------------------------------------------------------------ */
/* Callbacks                                                                 */
/* ------------------------------------------------------------------------ */

static int32_t hello_init(c360_call *call, const c360_host_api *host,
                          void **plugin_data)
{
    /* Services newer than ABI 1.0 must be tested before every use, because
     * this .so may be loaded by an older 1.x host that lacks them. Suppose
     * ABI 1.1 appended a secrets service `secret_get`; hello, compiled
     * against the 1.1 header, would write:
     *
     *     if (C360_HOST_HAS(host, secret_get))
     *         st = host->secret_get(call, conn->inst, "webhook_key", &key);
     *     else
     *         ... fall back, or return C360_EUNSUPPORTED ...
     *
     * The member must exist in the header compiled against, so the check is a
     * compile error against an SDK that is too old, and at run time it is
     * false on a host that is too old: no crash through a missing pointer.
     *
     * Services of ABI 1.0 itself are always present in a real 1.x host, so
     * checking them is not required. Hello checks the last one anyway: it
     * costs nothing, and it turns a truncated table (a hand-made test host)
     * into a clean refusal instead of a jump through garbage. */
    if (!C360_HOST_HAS(host, instance_connection)) {
        if (host != NULL && host->call_error != NULL)
            host->call_error(call, "host table lacks ABI 1.0 services");
        return C360_EUNSUPPORTED;
    }

    hello_plugin *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return C360_ENOMEM;
    p->host = host;
    *plugin_data = p;
    host->log(call, C360_LOG_DEBUG, "hello %s ready (host ABI %u.%u)",
              HELLO_VERSION, (unsigned)host->abi_major,
              (unsigned)host->abi_minor);
    return C360_OK;
}

static void hello_fini(void *plugin_data)
{
    /* Every instance has been closed by now (the host guarantees it), so the
     * plugin-wide state has no readers left. */
    free(plugin_data);
}

static int32_t hello_validate_config(c360_call *call, void *plugin_data,
                                     const char *config_json,
                                     size_t config_len)
{
    hello_plugin *p = plugin_data;
    json_t *root;
    hello_cfg cfg;
    /* Pure and non-blocking (this may run on the event loop for the admin
     * API's dry run): parse, check, report, nothing else. */
    int32_t st = hello_parse(p->host, call, config_json, config_len, &root,
                             &cfg);
    json_decref(root); /* NULL on failure; json_decref(NULL) is a no-op */
    return st;
}

/* strdup() is POSIX, not C11: with -std=c11 and no feature macro it is not
 * declared, and the example must build with any flags a reader uses. */
static char *hello_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

static int32_t hello_instance_open(c360_call *call, void *plugin_data,
                                   c360_instance *inst,
                                   const char *config_json, size_t config_len,
                                   void **instance_data)
{
    hello_plugin *p = plugin_data;
    const c360_host_api *host = p->host;
    json_t *root;
    hello_cfg cfg;

    int32_t st = hello_parse(host, NULL, config_json, config_len, &root, &cfg);
    if (st != C360_OK) {
        /* The host validated this config before; getting here means it
         * changed under us or hello has a bug. Retrying would not help. */
        if (st == C360_EINVAL)
            host->call_error(call, "config no longer valid; run validation");
        return st;
    }

    hello_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        json_decref(root);
        return C360_ENOMEM;
    }
    c->inst = inst;
    c->interval_ms = cfg.interval_s * 1000;
    atomic_init(&c->greetings, 0);
    atomic_init(&c->last_greeting_ms, 0);
    /* Copy: cfg points into `root` (and root into config_json's parse), and
     * both are gone when this callback returns. */
    c->greeting = hello_strdup(cfg.greeting);
    if (cfg.token != NULL) {
        c->token = hello_strdup(cfg.token);
        c->token_len = cfg.token_len;
    }
    json_decref(root);
    if (c->greeting == NULL || (cfg.token != NULL && c->token == NULL)) {
        free(c->greeting);
        free(c->token);
        free(c);
        return C360_ENOMEM; /* the host retries the open */
    }

    *instance_data = c;
    host->log(call, C360_LOG_INFO,
              "connection %s opened: greeting every %lld s, webhooks %s",
              host->instance_connection(inst), (long long)cfg.interval_s,
              c->token != NULL ? "on" : "off");
    return C360_OK;
}

static void hello_instance_close(void *plugin_data, void *instance_data)
{
    (void)plugin_data;
    hello_conn *c = instance_data;
    if (c == NULL)
        return;
    /* The token is not a secret (see the schema comment), but wiping what
     * looked like one before free() is a habit worth showing: a real
     * connector's keys should not linger in freed heap. A volatile pointer
     * keeps the compiler from dropping the stores as dead. */
    if (c->token != NULL) {
        volatile char *t = c->token;
        for (size_t i = 0; i < c->token_len; i++)
            t[i] = '\0';
    }
    free(c->token);
    free(c->greeting);
    free(c);
}

static int32_t hello_tick(c360_call *call, void *plugin_data,
                          void *instance_data)
{
    hello_plugin *p = plugin_data;
    const c360_host_api *host = p->host;
    hello_conn *c = instance_data;

    /* A real poller checks its deadline before starting a request it could
     * not finish: giving the tick back with RETRY is cheaper than having it
     * cut off half-way. 0 lets the host choose its backoff. */
    if (host->call_time_left_ms(call) < 100) {
        host->call_retry_after(call, 0);
        return C360_RETRY;
    }

    /* The host decides when ticks happen; interval_s only decides which of
     * them greet. A compare-and-swap claims the greeting, so two overlapping
     * ticks of one connection do not both greet. */
    int64_t now = host->monotonic_ms();
    int_fast64_t last = atomic_load(&c->last_greeting_ms);
    if (last != 0 && now - last < c->interval_ms) {
        host->log(call, C360_LOG_DEBUG, "next greeting in %lld ms",
                  (long long)(c->interval_ms - (now - last)));
        return C360_OK;
    }
    if (!atomic_compare_exchange_strong(&c->last_greeting_ms, &last, now))
        return C360_OK; /* another tick greeted just now */

    uint_fast64_t n = atomic_fetch_add(&c->greetings, 1) + 1;

    /* ABI 1.1 added host services. C360_HOST_HAS tells whether this host
     * offers one, so the same .so still runs, with less, on a 1.0 host. The
     * state service keeps the count in Redis, per connection: it survives
     * restarts and is shared by every host serving this connection. */
    if (C360_HOST_HAS(host, state_incr)) {
        int64_t total = 0;
        int32_t st = host->state_incr(call, "greetings", 1, &total);
        if (st == C360_EIO) {
            /* Redis is away: ask for the tick again rather than lose it. */
            host->call_error(call, "state unavailable: %s", c360_strstatus(st));
            host->call_retry_after(call, 1000);
            return C360_RETRY;
        }
        if (st == C360_OK) n = (uint_fast64_t)total;
    }
    host->log(call, C360_LOG_INFO, "%s (greeting %llu of connection %s)",
              c->greeting, (unsigned long long)n,
              host->instance_connection(c->inst));
    return C360_OK;
}

/* Compares a presented token with the expected one in time that depends only
 * on the expected length, never on where the first difference is: an early
 * return would let an attacker learn the token one byte at a time from
 * response times. The presented length is the attacker's own, so branching
 * on it leaks nothing. Written inline (not memcmp, which stops early; not a
 * library, to keep the example self-contained). */
static bool hello_token_equal(const char *expected, size_t expected_len,
                              const char *given)
{
    size_t given_len = strlen(given);
    /* volatile: keeps the optimiser from turning the loop back into an
     * early exit once it sees that only diff == 0 matters. */
    volatile unsigned char diff = given_len != expected_len;
    for (size_t i = 0; i < expected_len; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)expected[i]);
    }
    return diff == 0;
}

/* Finds the value of `key` in a raw query string ("a=1&challenge=xyz").
 * Sets *val and *val_len (not NUL-terminated: it points into the query) and
 * returns true if present. No percent-decoding: the caller only accepts
 * characters that never need encoding. */
static bool hello_query_param(const char *query, const char *key,
                              const char **val, size_t *val_len)
{
    size_t klen = strlen(key);
    const char *s = query;
    while (s != NULL && *s != '\0') {
        const char *end = strchr(s, '&');
        size_t len = end != NULL ? (size_t)(end - s) : strlen(s);
        if (len > klen && strncmp(s, key, klen) == 0 && s[klen] == '=') {
            *val = s + klen + 1;
            *val_len = len - klen - 1;
            return true;
        }
        s = end != NULL ? end + 1 : NULL;
    }
    return false;
}

static bool hello_challenge_ok(const char *v, size_t len)
{
    if (len == 0 || len > HELLO_CHALLENGE_MAX)
        return false;
    /* RFC 3986 unreserved characters: echoed back as text/plain, they can
     * carry nothing a client would interpret. */
    for (size_t i = 0; i < len; i++)
        if (!hello_token_char(v[i]) && v[i] != '.' && v[i] != '~')
            return false;
    return true;
}

static void hello_reply_text(c360_webhook_reply *reply, int32_t status,
                             const char *text, size_t len)
{
    /* The host preset content_type to "text/plain"; only status and body
     * change. len is bounded by the callers, far below the buffer. */
    if (len > sizeof(reply->body_buf))
        len = sizeof(reply->body_buf);
    reply->status = status;
    memcpy(reply->body_buf, text, len);
    reply->body_len = len;
}

/* Runs on the event loop thread, which serves every tenant's webhooks:
 * anything slow here stalls them all. So: no I/O, no locks that a worker may
 * hold, no host->log (it writes), no allocation that is not needed. Reasons
 * for a rejection go to host->call_error, which only copies into the call;
 * the host logs them. */
static int32_t hello_webhook_verify(c360_call *call, void *plugin_data,
                                    void *instance_data,
                                    const c360_webhook *req,
                                    c360_webhook_reply *reply)
{
    hello_plugin *p = plugin_data;
    const c360_host_api *host = p->host;
    hello_conn *c = instance_data;

    /* NULL for the app-level URL /hooks/hello, shared by all tenants. hello
     * has no app-level webhooks: without a connection there is no token to
     * check against. */
    if (c == NULL) {
        host->call_error(call, "hello takes webhooks on connection URLs only");
        reply->status = 403;
        return C360_VERDICT_REJECT;
    }
    if (c->token == NULL) {
        host->call_error(call, "webhooks are off: no webhook_token in config");
        reply->status = 403;
        return C360_VERDICT_REJECT;
    }

    /* Authenticate first, handshake second: otherwise anyone could make this
     * URL echo text of their choosing. Headers are read only up to
     * header_count; all fields used here exist since ABI 1.0, and a 1.x host
     * is never older than the ABI hello was built against (the loader
     * refuses that), so req->struct_size need not be checked for them. */
    const char *given = NULL;
    for (uint32_t i = 0; i < req->header_count; i++) {
        if (strcmp(req->headers[i].name, HELLO_TOKEN_HEADER) == 0) {
            given = req->headers[i].value;
            break;
        }
    }
    if (given == NULL) {
        host->call_error(call, "missing " HELLO_TOKEN_HEADER " header");
        reply->status = 401;
        return C360_VERDICT_REJECT;
    }
    if (!hello_token_equal(c->token, c->token_len, given)) {
        host->call_error(call, "wrong " HELLO_TOKEN_HEADER);
        reply->status = 401;
        return C360_VERDICT_REJECT;
    }

    if (strcmp(req->method, "GET") == 0) {
        /* The handshake: a sender proves the URL is live by asking it to echo
         * a challenge. REPLIED: the host sends our reply and stores nothing. */
        const char *v;
        size_t len;
        if (hello_query_param(req->query, "challenge", &v, &len) &&
            hello_challenge_ok(v, len)) {
            hello_reply_text(reply, 200, v, len);
        } else {
            static const char bad[] = "expected ?challenge=[A-Za-z0-9._~-]{1,"
                                      HELLO_STR(HELLO_CHALLENGE_MAX) "}\n";
            hello_reply_text(reply, 400, bad, sizeof(bad) - 1);
        }
        return C360_VERDICT_REPLIED;
    }
    if (strcmp(req->method, "POST") != 0) {
        static const char allow[] = "use GET for the handshake, POST for events\n";
        hello_reply_text(reply, 405, allow, sizeof(allow) - 1);
        return C360_VERDICT_REPLIED;
    }
    /* Authentic. The body is not parsed here (that is work, and it belongs
     * on a worker): the host stores the raw request and calls event(). */
    return C360_VERDICT_ACCEPT;
}

static int32_t hello_event(c360_call *call, void *plugin_data,
                           void *instance_data, const c360_event *ev)
{
    hello_plugin *p = plugin_data;
    const c360_host_api *host = p->host;
    (void)instance_data;

    /* Called at least once per event: whatever this does must be safe to do
     * twice. hello only reads and logs, which trivially is. */
    if (ev->body_len == 0) {
        host->call_error(call, "event %s: empty body", ev->event_id);
        return C360_ERROR;
    }
    json_error_t jerr;
    json_t *body = json_loadb((const char *)ev->body, ev->body_len, 0, &jerr);
    if (body == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return C360_ENOMEM;
        /* The same bytes will never parse: a permanent error, not RETRY,
         * so the host does not spend retries on it. */
        host->call_error(call, "event %s: body is not JSON (line %d: %s)",
                         ev->event_id, jerr.line, jerr.text);
        return C360_ERROR;
    }
    /* Log the shape, not the content: bodies carry personal data. */
    host->log(call, C360_LOG_INFO,
              "event %s: %zu bytes, JSON %s with %zu members, attempt %u",
              ev->event_id, ev->body_len,
              json_is_object(body) ? "object" : "value",
              json_is_object(body) ? json_object_size(body) : (size_t)0,
              (unsigned)ev->attempt);
    json_decref(body);
    return C360_OK;
}

static int32_t hello_deliver(c360_call *call, void *plugin_data,
                             void *instance_data, const c360_record *rec)
{
    hello_plugin *p = plugin_data;
    const c360_host_api *host = p->host;
    (void)instance_data;

    /* A real destination sends rec->json to the customer's system with
     * rec->id as the idempotency key, so a retried or replayed delivery
     * updates instead of duplicating. It maps the outcome to a status:
     * 2xx -> C360_OK; 429/5xx -> C360_RETRY (with call_retry_after from
     * Retry-After); 401/403 -> C360_EAUTH; other 4xx -> C360_ERROR. */
    host->log(call, C360_LOG_INFO,
              "deliver %s %s from %s: %zu bytes, attempt %u",
              rec->type, rec->id, rec->source_plugin, rec->json_len,
              (unsigned)rec->attempt);
    return C360_OK;
}

static int32_t hello_disconnect(c360_call *call, void *plugin_data,
                                void *instance_data)
{
    hello_plugin *p = plugin_data;
    (void)instance_data;
    /* Here a real connector deletes its provider subscriptions and revokes
     * tokens. hello registered nothing anywhere, so it only says so; the
     * host deletes the connection's state and calls instance_close next. */
    p->host->log(call, C360_LOG_INFO, "disconnected; nothing to revoke");
    return C360_OK;
}

/* ------------------------------------------------------------------------ */
/* Descriptor and entry point                                                */
/* ------------------------------------------------------------------------ */

/* Static storage and const: the host may read it at any time until unload.
 * Designated initialisers keep each callback next to its name, and leave
 * any member this plugin does not set NULL. */
static const c360_plugin_desc hello_desc = {
    /* magic, abi_major/minor of the header compiled against, this struct's
     * size as this plugin sees it, capabilities. The host uses struct_size
     * to read only the members a plugin built against an older minor has. */
    C360_DESC_HEADER(C360_CAP_SOURCE_TICK | C360_CAP_SOURCE_WEBHOOK |
                     C360_CAP_DESTINATION),
    .name = "hello",
    .version = HELLO_VERSION,
    .description = "Example connector: greets on a schedule, echoes "
                   "webhook handshakes, logs events and deliveries",
    .config_schema = hello_schema,
    .init = hello_init,
    .fini = hello_fini,
    .validate_config = hello_validate_config,
    .instance_open = hello_instance_open,
    .instance_close = hello_instance_close,
    .tick = hello_tick,                      /* C360_CAP_SOURCE_TICK */
    .webhook_verify = hello_webhook_verify,  /* C360_CAP_SOURCE_WEBHOOK */
    .event = hello_event,                    /* C360_CAP_SOURCE_WEBHOOK */
    .deliver = hello_deliver,                /* C360_CAP_DESTINATION */
    .disconnect = hello_disconnect,
};

/* The one exported symbol. Everything else in this file is static, and the
 * build uses -fvisibility=hidden, so nothing of hello can clash with the
 * host or another plugin. The host may call this more than once and before
 * deciding to accept the plugin: it must only return the descriptor. */
C360_PLUGIN_ENTRY
{
    return &hello_desc;
}
