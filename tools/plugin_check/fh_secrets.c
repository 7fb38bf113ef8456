/* fh_secrets.c -- host->secret_* in memory, with the contract of
 * host/services/secrets.h: names checked as the host checks them, the
 * host's size limit, C360_ENOTFOUND for an absent secret, ok for deleting
 * one. Values are held and handed out only in guarded memory (libsodium),
 * NUL-terminated, and go back with host->secret_free (fh_mem.c).
 *
 * A secret's value is never recorded, printed or put in an error: the trace
 * shows its name and length. The store starts with what --secret seeded
 * (fh_secret_seed: what the connect flow would have stored in c360d), and
 * a plugin under test puts what it later gets. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fh_internal.h"
#include "fh_mem.h"
#include "keys.h"
#include "svc.h"

#define FH_NAME_RULE "name must be 1..200 bytes of printable ASCII (0x21..0x7e)"
/* Names the host keeps for itself (OAuth tokens, hostapi.c): refused with
 * C360_EDENIED before anything else, since plugins reach tokens only
 * through oauth_token. */
#define FH_RESERVED_PREFIX "oauth:"

/* C360_EDENIED for a reserved name, as c360d answers; the warning says
 * why, which c360d does not. */
static int32_t fh_reserved_locked(json_t *e, const char *fn, const char *name)
{
    if (name == NULL ||
        strncmp(name, FH_RESERVED_PREFIX, sizeof(FH_RESERVED_PREFIX) - 1) != 0)
        return C360_OK;
    fh_detail(e, "refused: \"" FH_RESERVED_PREFIX "\" names are the host's");
    fh_warning_locked("host.%s(\"%.60s\"): names starting with \""
                      FH_RESERVED_PREFIX "\" belong to the host (OAuth "
                      "tokens; use oauth_token) and are refused with "
                      "C360_EDENIED", fn, name);
    return fh_status(e, C360_EDENIED);
}

typedef struct fh_secret {
    struct fh_secret *next;
    char *conn;
    char *name;
    uint8_t *value; /* sodium_malloc: len bytes + NUL */
    size_t len;
} fh_secret;

/* Guarded by fh_lock. */
static fh_secret *fh_secrets;

static void fh_secret_drop(fh_secret *s)
{
    free(s->conn);
    free(s->name);
    sodium_free(s->value); /* wipes */
    free(s);
}

static fh_secret **fh_secret_find(const char *conn, const char *name)
{
    for (fh_secret **pp = &fh_secrets; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->conn, conn) == 0 && strcmp((*pp)->name, name) == 0)
            return pp;
    return NULL;
}

/* Guarded memory for the store's own copy; not a buffer of the plugin's,
 * so not accounted for. */
static uint8_t *fh_guarded_copy(const void *value, size_t len)
{
    if (sodium_init() < 0)
        abort();
    uint8_t *p = sodium_malloc(len + 1);
    if (p == NULL)
        fh_need(NULL);
    if (len > 0)
        memcpy(p, value, len);
    p[len] = '\0';
    return p;
}

static int32_t fh_get_locked(json_t *e, c360_call *call, const char *name,
                             uint8_t **value, size_t *len)
{
    int32_t st = fh_reserved_locked(e, "secret_get", name);
    if (st != C360_OK)
        return st;
    if (value == NULL || len == NULL)
        return fh_invalid_locked(e, "secret_get", "value and len are required");
    *value = NULL;
    st = fh_gate_locked(e, "secret_get", call);
    if (st != C360_OK)
        return st;
    if (!ch_name_valid(name)) {
        fh_call_reason_locked(call, "invalid secret name: 1..%d bytes of "
                              "printable ASCII", CH_NAME_MAX);
        return fh_invalid_locked(e, "secret_get", FH_NAME_RULE);
    }
    fh_secret **pp = fh_secret_find(fh_call_connection(call), name);
    if (pp == NULL) {
        fh_detail(e, "no such secret");
        return fh_status(e, C360_ENOTFOUND);
    }
    fh_secret *s = *pp;
    uint8_t *out = fh_mem_alloc_locked(FH_MEM_SECRET, s->len + 1,
                                       "secret_get");
    memcpy(out, s->value, s->len + 1);
    *value = out;
    *len = s->len;
    fh_detail(e, "%zu bytes (value not shown)", s->len);
    return fh_status(e, C360_OK);
}

int32_t fh_secret_get(c360_call *call, const char *name, uint8_t **value,
                      size_t *len)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("secret_get");
    fh_named_str(e, "name", name);
    int32_t st = fh_get_locked(e, call, name, value, len);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

static int32_t fh_put_locked(json_t *e, c360_call *call, const char *name,
                             const void *value, size_t len)
{
    int32_t st = fh_reserved_locked(e, "secret_put", name);
    if (st == C360_OK)
        st = fh_gate_locked(e, "secret_put", call);
    if (st != C360_OK)
        return st;
    if (!ch_name_valid(name)) {
        fh_call_reason_locked(call, "invalid secret name: 1..%d bytes of "
                              "printable ASCII", CH_NAME_MAX);
        return fh_invalid_locked(e, "secret_put", FH_NAME_RULE);
    }
    if (value == NULL && len != 0) {
        fh_call_reason_locked(call, "no value");
        return fh_invalid_locked(e, "secret_put", "value is NULL but len is "
                                 "not 0");
    }
    size_t max = ch_svc_limits_current.secret_max_value;
    if (len > max) {
        fh_call_reason_locked(call, "secret of %zu bytes is over the limit "
                              "of %zu", len, max);
        fh_detail(e, "%zu bytes is over the host's limit of %zu", len, max);
        return fh_status(e, C360_ETOOBIG);
    }
    const char *conn = fh_call_connection(call);
    fh_secret **pp = fh_secret_find(conn, name);
    fh_secret *s = pp != NULL ? *pp : NULL;
    if (s == NULL) {
        s = fh_xmalloc(sizeof(*s));
        s->conn = fh_xstrdup(conn);
        s->name = fh_xstrdup(name);
        s->value = NULL;
        s->next = fh_secrets;
        fh_secrets = s;
    }
    uint8_t *copy = fh_guarded_copy(value, len);
    if (s->value != NULL)
        sodium_free(s->value);
    s->value = copy;
    s->len = len;
    /* c360d also audits the write ("secret.put", the name): ids only. */
    fh_detail(e, "stored (value not shown)");
    return fh_status(e, C360_OK);
}

int32_t fh_secret_put(c360_call *call, const char *name, const void *value,
                      size_t len)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("secret_put");
    fh_named_str(e, "name", name);
    fh_named_int(e, "len", (json_int_t)len);
    int32_t st = fh_put_locked(e, call, name, value, len);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

int32_t fh_secret_delete(c360_call *call, const char *name)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("secret_delete");
    fh_named_str(e, "name", name);
    int32_t st = fh_reserved_locked(e, "secret_delete", name);
    if (st == C360_OK)
        st = fh_gate_locked(e, "secret_delete", call);
    if (st == C360_OK && !ch_name_valid(name)) {
        fh_call_reason_locked(call, "invalid secret name: 1..%d bytes of "
                              "printable ASCII", CH_NAME_MAX);
        st = fh_invalid_locked(e, "secret_delete", FH_NAME_RULE);
    } else if (st == C360_OK) {
        fh_secret **pp = fh_secret_find(fh_call_connection(call), name);
        if (pp != NULL) {
            fh_secret *s = *pp;
            *pp = s->next;
            fh_secret_drop(s);
            fh_detail(e, "deleted");
        } else {
            fh_detail(e, "there was no such secret");
        }
        st = fh_status(e, C360_OK);
    }
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

int fh_secret_seed(const char *name, const void *value, size_t len)
{
    if (!ch_name_valid(name) ||
        strncmp(name, FH_RESERVED_PREFIX, sizeof(FH_RESERVED_PREFIX) - 1) == 0 ||
        len > ch_svc_limits_current.secret_max_value)
        return -1;
    pthread_mutex_lock(&fh_lock);
    const char *conn = fh_instance_connection_id();
    fh_secret **pp = fh_secret_find(conn, name);
    fh_secret *s = pp != NULL ? *pp : NULL;
    if (s == NULL) {
        s = fh_xmalloc(sizeof(*s));
        s->conn = fh_xstrdup(conn);
        s->name = fh_xstrdup(name);
        s->value = NULL;
        s->next = fh_secrets;
        fh_secrets = s;
    }
    uint8_t *copy = fh_guarded_copy(value, len);
    if (s->value != NULL)
        sodium_free(s->value);
    s->value = copy;
    s->len = len;
    pthread_mutex_unlock(&fh_lock);
    return 0;
}

void fh_secrets_reset_locked(void)
{
    while (fh_secrets != NULL) {
        fh_secret *s = fh_secrets;
        fh_secrets = s->next;
        fh_secret_drop(s);
    }
}
