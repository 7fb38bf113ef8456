/* c360kit_host.c -- small adapters between the plugins' pure parts and the
 * host table (c360kit.h). */
#include "c360kit.h"

#include <stdlib.h>
#include <string.h>

void c360kit_cfg_error(void *sink, const char *json_pointer, const char *message)
{
    c360kit_cfg_sink *s = sink;
    s->host->config_error(s->call, json_pointer, message);
}

bool c360kit_env_url(const char *env, const char *def, char *out, size_t max_len,
                     c360_call *call, const c360_host_api *h)
{
    const char *v = getenv(env);
    if (v == NULL || *v == '\0') v = def;
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/') n--;
    /* A host after the scheme: "https://" alone trims to "https:". */
    size_t scheme = strncmp(v, "https://", 8) == 0 ? 8 : strncmp(v, "http://", 7) == 0 ? 7 : 0;
    bool ok = scheme > 0 && n > scheme && n < max_len;
    for (size_t i = 0; ok && i < n; i++)
        ok = v[i] > 0x20 && v[i] < 0x7f && v[i] != '?' && v[i] != '#';
    if (!ok) {
        h->call_error(call, "%s must be an http(s) URL without query", env);
        return false;
    }
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

bool c360kit_env_num(const char *env, long def, long min, long max, uint32_t *out,
                     c360_call *call, const c360_host_api *h)
{
    const char *t = getenv(env);
    *out = (uint32_t)def;
    if (t == NULL || *t == '\0') return true;
    /* strtol would skip leading blanks and take a '+': digits only. */
    if (!((t[0] >= '0' && t[0] <= '9') || (t[0] == '-' && t[1] >= '0' && t[1] <= '9'))) {
        h->call_error(call, "%s must be %ld to %ld", env, min, max);
        return false;
    }
    char *end;
    long v = strtol(t, &end, 10);
    if (*end != '\0' || v < min || v > max) {
        h->call_error(call, "%s must be %ld to %ld", env, min, max);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}
