/* loader.h -- finds, checks and loads connector plugins.
 *
 * Every *.so in a directory is dlopen()ed with RTLD_NOW | RTLD_LOCAL (so an
 * unresolved symbol fails here, not at the first tick, and plugin symbols
 * never bind to one another). A plugin that fails any check is refused: the
 * loader logs one line naming the file and the exact reason, remembers the
 * refusal for /v1/plugins, and goes on with the next file. A refusal never
 * stops the host. */
#ifndef CH_LOADER_H
#define CH_LOADER_H

#include <stddef.h>

#include <jansson.h>

#include "connector_api.h"
#include "err.h"

/* Why a plugin was refused (append-only; the code strings are API). */
typedef enum ch_refusal {
    CH_REFUSE_NONE = 0,
    CH_REFUSE_DLOPEN,        /* "dlopen_failed": unresolved symbol, not ELF */
    CH_REFUSE_NO_ENTRY,      /* "missing_entry_symbol" */
    CH_REFUSE_NULL_DESC,     /* "null_descriptor" */
    CH_REFUSE_MAGIC,         /* "bad_magic" */
    CH_REFUSE_ABI_MAJOR,     /* "abi_major_mismatch" */
    CH_REFUSE_ABI_MINOR,     /* "abi_minor_too_new" */
    CH_REFUSE_STRUCT_SIZE,   /* "struct_size_too_small" */
    CH_REFUSE_NAME,          /* "bad_name" */
    CH_REFUSE_DESCRIPTOR,    /* "bad_descriptor": version/description */
    CH_REFUSE_CAPABILITIES,  /* "bad_capabilities" */
    CH_REFUSE_CALLBACKS,     /* "missing_callbacks" */
    CH_REFUSE_SCHEMA,        /* "bad_config_schema" */
    CH_REFUSE_DUPLICATE,     /* "duplicate_name" */
    CH_REFUSE_INIT,          /* "init_failed" */
    CH_REFUSE__COUNT
} ch_refusal;

const char *ch_refusal_code(ch_refusal r);

typedef struct ch_loader ch_loader;  /* the set of loaded + refused plugins */
typedef struct ch_plugin ch_plugin;  /* one loaded plugin */

/* Plugin callbacks resolved from the descriptor, field by field within its
 * struct_size (members the plugin's minor lacks are NULL). */
typedef struct ch_plugin_ops {
    int32_t (*init)(c360_call *, const c360_host_api *, void **);
    void (*fini)(void *);
    int32_t (*validate_config)(c360_call *, void *, const char *, size_t);
    int32_t (*instance_open)(c360_call *, void *, c360_instance *,
                             const char *, size_t, void **);
    void (*instance_close)(void *, void *);
    int32_t (*tick)(c360_call *, void *, void *);
    int32_t (*webhook_verify)(c360_call *, void *, void *, const c360_webhook *,
                              c360_webhook_reply *);
    int32_t (*event)(c360_call *, void *, void *, const c360_event *);
    int32_t (*deliver)(c360_call *, void *, void *, const c360_record *);
    int32_t (*disconnect)(c360_call *, void *, void *);
    int32_t (*webhook_route)(c360_call *, void *, const c360_webhook *); /* 1.2 */
    int32_t (*oauth_connect)(c360_call *, void *, void *,
                             c360_oauth_connect *);                   /* 1.3 */
    int32_t (*deliver_batch)(c360_call *, void *, void *,
                             const c360_record *const *, size_t,
                             int32_t *);                              /* 1.4 */
    int32_t (*event_prefetch)(c360_call *, void *, void *,
                              const c360_event *const *, size_t);    /* 1.7 */
} ch_plugin_ops;

/* `host` is the table handed to every plugin's init; it must outlive the
 * loader. */
ch_loader *ch_loader_new(const c360_host_api *host);
/* Calls fini of every loaded plugin (reverse load order), then dlclose. */
void ch_loader_free(ch_loader *ld);

/* Loads every regular file ending in ".so" in dir, in name order. Returns
 * CH_OK, or CH_EIO if the directory cannot be read (logged; refusals of
 * single files are not errors). */
ch_err ch_loader_load_dir(ch_loader *ld, const char *dir);
/* Loads one file. CH_OK, or CH_EREFUSED with the refusal recorded. */
ch_err ch_loader_load_file(ch_loader *ld, const char *path);

size_t ch_loader_count(const ch_loader *ld);
const ch_plugin *ch_loader_get(const ch_loader *ld, size_t i);
const ch_plugin *ch_loader_find(const ch_loader *ld, const char *name);

size_t ch_loader_refused_count(const ch_loader *ld);
const char *ch_loader_refused_path(const ch_loader *ld, size_t i);
ch_refusal ch_loader_refused_code(const ch_loader *ld, size_t i);
const char *ch_loader_refused_reason(const ch_loader *ld, size_t i);

const char *ch_plugin_name(const ch_plugin *p);
const char *ch_plugin_path(const ch_plugin *p);
const c360_plugin_desc *ch_plugin_desc(const ch_plugin *p);
const ch_plugin_ops *ch_plugin_ops_get(const ch_plugin *p);
void *ch_plugin_data(const ch_plugin *p);

/* {"name","version","description","abi":"1.0","capabilities":[...],
 *  "oauth_connect":bool,"deliver_batch":bool,"event_prefetch":bool,
 *  "config_schema":{...},"file"}
 * -- new reference. oauth_connect: the plugin offers OAuth connect (ABI
 * 1.3); deliver_batch: a destination that takes several records per call
 * (ABI 1.4); event_prefetch: a webhook source that looks ahead at the
 * events a worker took together (ABI 1.7). */
json_t *ch_plugin_to_json(const ch_plugin *p);
/* {"plugins":[...],"refused":[{"file","code","reason"}]} -- new reference. */
json_t *ch_loader_to_json(const ch_loader *ld);

/* Checks a descriptor the way the loader does, without loading anything
 * (also used by the fuzz target). On refusal writes the reason into why. */
ch_refusal ch_loader_check_desc(const c360_plugin_desc *d, char *why,
                                size_t why_cap);

#endif
