/* testplugin.c -- purpose-built plugins for the loader tests. One source,
 * compiled once per defect (see CMakeLists.txt): each .so is correct except
 * for the one thing its TP_* macro breaks, so each refusal reason is tested
 * in isolation while a good plugin loads beside them. */
#include <string.h>

#include "connector_api.h"

#ifndef TP_NAME
#define TP_NAME "good"
#endif
#ifndef TP_MAGIC
#define TP_MAGIC C360_PLUGIN_MAGIC
#endif
#ifndef TP_MAJOR
#define TP_MAJOR C360_ABI_MAJOR
#endif
#ifndef TP_MINOR
#define TP_MINOR C360_ABI_MINOR
#endif
#ifndef TP_SIZE
#define TP_SIZE sizeof(c360_plugin_desc)
#endif
#ifndef TP_CAPS
#define TP_CAPS (C360_CAP_SOURCE_TICK | C360_CAP_DESTINATION)
#endif
#ifndef TP_DESCRIPTION
#define TP_DESCRIPTION "loader test plugin"
#endif
#ifndef TP_SCHEMA
#define TP_SCHEMA "{\"type\":\"object\",\"properties\":{}}"
#endif

static const c360_host_api *host;

#ifdef TP_UNRESOLVED
/* Defined nowhere: dlopen(RTLD_NOW) must fail naming it. */
extern int c360_test_symbol_that_does_not_exist(void);
#endif

static int32_t tp_init(c360_call *call, const c360_host_api *h, void **data)
{
    host = h;
    *data = NULL;
#ifdef TP_UNRESOLVED
    return c360_test_symbol_that_does_not_exist();
#endif
#ifdef TP_INIT_FAILS
    h->call_error(call, "upstream credentials missing (test plugin)");
    return C360_ERROR;
#else
    h->log(call, C360_LOG_DEBUG, "test plugin %s initialised", TP_NAME);
    return C360_OK;
#endif
}

static int32_t tp_validate(c360_call *call, void *pd, const char *json, size_t len)
{
    (void)pd;
    /* Refuses any config mentioning "bad": enough to test error reporting. */
    for (size_t i = 0; i + 3 <= len; i++) {
        if (memcmp(json + i, "bad", 3) == 0) {
            host->config_error(call, "/value", "must not be bad");
            return C360_EINVAL;
        }
    }
    return C360_OK;
}

static int32_t tp_open(c360_call *call, void *pd, c360_instance *inst,
                       const char *json, size_t len, void **idata)
{
    (void)call; (void)pd; (void)inst; (void)json; (void)len;
    *idata = NULL;
    return C360_OK;
}

#if defined(__GNUC__)
__attribute__((unused))
#endif
static int32_t tp_tick(c360_call *call, void *pd, void *id)
{
    (void)call; (void)pd; (void)id;
    return C360_OK;
}

static int32_t tp_deliver(c360_call *call, void *pd, void *id, const c360_record *r)
{
    (void)call; (void)pd; (void)id; (void)r;
    return C360_OK;
}

/* ABI 1.7, set under TP_PREFETCH: a host takes it from webhook sources
 * only, so on this tick/destination plugin it must never be read. */
#if defined(__GNUC__)
__attribute__((unused))
#endif
static int32_t tp_prefetch(c360_call *call, void *pd, void *id, const c360_event *const *evs,
                           size_t n)
{
    (void)call; (void)pd; (void)id; (void)evs; (void)n;
    return C360_OK;
}

#if defined(__GNUC__)
__attribute__((unused))
#endif
static const c360_plugin_desc desc = {
    TP_MAGIC, TP_MAJOR, TP_MINOR, (uint32_t)(TP_SIZE), (uint32_t)(TP_CAPS),
    TP_NAME, "0.0.1", TP_DESCRIPTION, TP_SCHEMA,
    tp_init, NULL, tp_validate, tp_open, NULL,
#ifdef TP_NO_TICK
    NULL,
#else
    tp_tick,
#endif
    NULL, NULL, tp_deliver, NULL,
#ifdef TP_PREFETCH
    NULL, NULL, NULL, tp_prefetch,
#endif
};

#ifndef TP_NO_ENTRY
C360_PLUGIN_ENTRY
{
#ifdef TP_NULL_DESC
    return NULL;
#else
    return &desc;
#endif
}
#else
/* Exported, but under the wrong name. */
C360_EXPORT const c360_plugin_desc *c360_plugin_entry_v0(void);
C360_EXPORT const c360_plugin_desc *c360_plugin_entry_v0(void) { return &desc; }
#endif
