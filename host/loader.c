/* loader.c -- dlopen()s plugins and refuses the ones the host cannot trust.
 *
 * The checks run in the order a newcomer would debug them: can the file be
 * loaded at all, does it have our entry symbol, is it one of ours (magic),
 * is it built for an ABI we speak, is its descriptor complete, is its name
 * free, does its init succeed. The first failing check is the reason given.
 * The descriptor is read field by field within the plugin's struct_size and
 * never copied by size into a host struct. */
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "call.h"
#include "log.h"
#include "util.h"

/* The smallest descriptor an ABI 1.x plugin can have: everything of 1.0. */
#define DESC_MIN_SIZE_V1_0 \
    (offsetof(c360_plugin_desc, disconnect) + sizeof(void (*)(void)))
/* The descriptor of a plugin that declares minor 2 (webhook_route), 3
 * (oauth_connect) or 4 (deliver_batch) is at least that minor's:
 * C360_DESC_HEADER writes the sizeof of the SDK it was built with, which is
 * never older than the minor it declares. A shorter one was written by
 * hand, wrongly. (1.1 appended nothing to the descriptor.) */
#define DESC_MIN_SIZE_V1_2 \
    (offsetof(c360_plugin_desc, webhook_route) + sizeof(void (*)(void)))
#define DESC_MIN_SIZE_V1_3 \
    (offsetof(c360_plugin_desc, oauth_connect) + sizeof(void (*)(void)))
#define DESC_MIN_SIZE_V1_4 \
    (offsetof(c360_plugin_desc, deliver_batch) + sizeof(void (*)(void)))
/* 1.5 and 1.6 appended to the host table only; 1.7 event_prefetch; 1.8
 * the host table only again (a 1.8 descriptor ends where 1.7's does). */
#define DESC_MIN_SIZE_V1_7 \
    (offsetof(c360_plugin_desc, event_prefetch) + sizeof(void (*)(void)))
#define NAME_MAX_LEN 32
#define VERSION_MAX_LEN 64
#define DESCRIPTION_MAX_LEN 256
#define SCHEMA_MAX_LEN (64 * 1024)
#define REASON_MAX 512

struct ch_plugin {
    char *path;
    char *name;
    void *dl;
    const c360_plugin_desc *desc;
    ch_plugin_ops ops;
    void *data;   /* from init */
};

typedef struct refused {
    char *path;
    ch_refusal code;
    char *reason;
} refused;

struct ch_loader {
    const c360_host_api *host;
    ch_plugin **plugins;
    size_t count, cap;
    refused *refused;
    size_t refused_count, refused_cap;
};

static const char *const refusal_codes[CH_REFUSE__COUNT] = {
    [CH_REFUSE_NONE] = "none",
    [CH_REFUSE_DLOPEN] = "dlopen_failed",
    [CH_REFUSE_NO_ENTRY] = "missing_entry_symbol",
    [CH_REFUSE_NULL_DESC] = "null_descriptor",
    [CH_REFUSE_MAGIC] = "bad_magic",
    [CH_REFUSE_ABI_MAJOR] = "abi_major_mismatch",
    [CH_REFUSE_ABI_MINOR] = "abi_minor_too_new",
    [CH_REFUSE_STRUCT_SIZE] = "struct_size_too_small",
    [CH_REFUSE_NAME] = "bad_name",
    [CH_REFUSE_DESCRIPTOR] = "bad_descriptor",
    [CH_REFUSE_CAPABILITIES] = "bad_capabilities",
    [CH_REFUSE_CALLBACKS] = "missing_callbacks",
    [CH_REFUSE_SCHEMA] = "bad_config_schema",
    [CH_REFUSE_DUPLICATE] = "duplicate_name",
    [CH_REFUSE_INIT] = "init_failed",
};

const char *ch_refusal_code(ch_refusal r)
{
    if ((unsigned)r >= CH_REFUSE__COUNT) return "unknown";
    return refusal_codes[r];
}

ch_loader *ch_loader_new(const c360_host_api *host)
{
    ch_loader *ld = ch_calloc(1, sizeof *ld);
    ld->host = host;
    return ld;
}

static void plugin_free(ch_plugin *p)
{
    if (!p) return;
    if (p->ops.fini) p->ops.fini(p->data);
    if (p->dl) dlclose(p->dl);
    free(p->path);
    free(p->name);
    free(p);
}

void ch_loader_free(ch_loader *ld)
{
    if (!ld) return;
    /* Reverse order: a later plugin may have been loaded knowing an earlier
     * one was there. */
    for (size_t i = ld->count; i-- > 0;) plugin_free(ld->plugins[i]);
    free(ld->plugins);
    for (size_t i = 0; i < ld->refused_count; i++) {
        free(ld->refused[i].path);
        free(ld->refused[i].reason);
    }
    free(ld->refused);
    free(ld);
}

static void refuse(ch_loader *ld, const char *path, ch_refusal code,
                   const char *reason)
{
    if (ld->refused_count == ld->refused_cap) {
        ld->refused_cap = ld->refused_cap ? ld->refused_cap * 2 : 8;
        ld->refused = ch_realloc(ld->refused, ld->refused_cap * sizeof *ld->refused);
    }
    refused *r = &ld->refused[ld->refused_count++];
    r->path = ch_strdup(path);
    r->code = code;
    r->reason = ch_strndup(reason, REASON_MAX);
    ch_log(CH_LOG_WARN, "plugin refused", "file", path, "code",
           ch_refusal_code(code), "reason", r->reason, NULL);
}

static int valid_name(const char *name)
{
    size_t n = strnlen(name, NAME_MAX_LEN + 1);
    if (n == 0 || n > NAME_MAX_LEN) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* Valid UTF-8 (no overlongs, no surrogates) and no control characters:
 * these strings end up in JSON for operators and in log lines. */
static int printable_bounded(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n > max) return 0;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) return 0;
            p++;
            continue;
        }
        size_t len;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
        else return 0;
        if ((size_t)(end - p) < len) return 0;
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        p += len;
    }
    return 1;
}

static void why(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why(char *buf, size_t cap, const char *fmt, ...)
{
    if (!buf || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

ch_refusal ch_loader_check_desc(const c360_plugin_desc *d, char *w, size_t wc)
{
    if (d->magic != C360_PLUGIN_MAGIC) {
        why(w, wc, "bad magic 0x%08x (expected 0x%08x): not a Connector 360 plugin, or a corrupt descriptor",
            (unsigned)d->magic, C360_PLUGIN_MAGIC);
        return CH_REFUSE_MAGIC;
    }
    if (d->abi_major != C360_ABI_MAJOR) {
        why(w, wc, "ABI major mismatch: plugin built for ABI %u.%u, host speaks %d.x (rebuild the plugin against this SDK)",
            d->abi_major, d->abi_minor, C360_ABI_MAJOR);
        return CH_REFUSE_ABI_MAJOR;
    }
    if (d->abi_minor > C360_ABI_MINOR) {
        why(w, wc, "ABI minor too new: plugin needs ABI %u.%u, host offers %d.%d (upgrade c360d)",
            d->abi_major, d->abi_minor, C360_ABI_MAJOR, C360_ABI_MINOR);
        return CH_REFUSE_ABI_MINOR;
    }
    if (d->struct_size < DESC_MIN_SIZE_V1_0) {
        why(w, wc, "descriptor struct_size %u is smaller than the %zu bytes of an ABI 1.0 descriptor",
            (unsigned)d->struct_size, (size_t)DESC_MIN_SIZE_V1_0);
        return CH_REFUSE_STRUCT_SIZE;
    }
    size_t need = d->abi_minor >= 7   ? DESC_MIN_SIZE_V1_7
                  : d->abi_minor >= 4 ? DESC_MIN_SIZE_V1_4
                  : d->abi_minor >= 3 ? DESC_MIN_SIZE_V1_3
                  : d->abi_minor >= 2 ? DESC_MIN_SIZE_V1_2 : DESC_MIN_SIZE_V1_0;
    if (d->struct_size < need) {
        why(w, wc, "descriptor struct_size %u is smaller than the %zu bytes of an ABI 1.%u descriptor, "
            "the minor it declares (use C360_DESC_HEADER)", (unsigned)d->struct_size, need,
            (unsigned)d->abi_minor);
        return CH_REFUSE_STRUCT_SIZE;
    }
    if (!d->name || !valid_name(d->name)) {
        why(w, wc, "plugin name must be 1-%d characters of [a-z0-9_]", NAME_MAX_LEN);
        return CH_REFUSE_NAME;
    }
    if (!d->version || !*d->version || !printable_bounded(d->version, VERSION_MAX_LEN)) {
        why(w, wc, "plugin %s: version must be printable UTF-8 of 1-%d bytes",
            d->name, VERSION_MAX_LEN);
        return CH_REFUSE_DESCRIPTOR;
    }
    if (d->description && !printable_bounded(d->description, DESCRIPTION_MAX_LEN)) {
        why(w, wc, "plugin %s: description must be printable UTF-8 of at most %d bytes",
            d->name, DESCRIPTION_MAX_LEN);
        return CH_REFUSE_DESCRIPTOR;
    }
    uint32_t caps = d->capabilities;
    if (caps == 0) {
        why(w, wc, "plugin %s declares no capability (source_tick, source_webhook or destination)", d->name);
        return CH_REFUSE_CAPABILITIES;
    }
    if (caps & ~(uint32_t)C360_CAP__KNOWN_V1_0) {
        why(w, wc, "plugin %s declares unknown capability bits 0x%x", d->name,
            (unsigned)(caps & ~(uint32_t)C360_CAP__KNOWN_V1_0));
        return CH_REFUSE_CAPABILITIES;
    }
    char missing[256] = "";
#define NEED(cond, field)                                                   \
    do {                                                                    \
        if ((cond) && !d->field) {                                          \
            if (*missing) strncat(missing, ", ", sizeof missing - strlen(missing) - 1); \
            strncat(missing, #field, sizeof missing - strlen(missing) - 1); \
        }                                                                   \
    } while (0)
    NEED(1, init);
    NEED(1, validate_config);
    NEED(1, instance_open);
    NEED(caps & C360_CAP_SOURCE_TICK, tick);
    NEED(caps & C360_CAP_SOURCE_WEBHOOK, webhook_verify);
    NEED(caps & C360_CAP_SOURCE_WEBHOOK, event);
    NEED(caps & C360_CAP_DESTINATION, deliver);
#undef NEED
    if (*missing) {
        why(w, wc, "plugin %s lacks callbacks required by its capabilities: %s", d->name, missing);
        return CH_REFUSE_CALLBACKS;
    }
    if (!d->config_schema) {
        why(w, wc, "plugin %s has no config_schema", d->name);
        return CH_REFUSE_SCHEMA;
    }
    size_t slen = strnlen(d->config_schema, SCHEMA_MAX_LEN + 1);
    if (slen > SCHEMA_MAX_LEN) {
        why(w, wc, "plugin %s: config_schema is larger than %d bytes", d->name, SCHEMA_MAX_LEN);
        return CH_REFUSE_SCHEMA;
    }
    json_error_t jerr;
    json_t *schema = json_loadb(d->config_schema, slen, JSON_REJECT_DUPLICATES, &jerr);
    if (!schema || !json_is_object(schema)) {
        why(w, wc, "plugin %s: config_schema is not a JSON object (%s at line %d column %d)",
            d->name, schema ? "not an object" : jerr.text, jerr.line, jerr.column);
        json_decref(schema);
        return CH_REFUSE_SCHEMA;
    }
    json_t *type = json_object_get(schema, "type");
    if (type && (!json_is_string(type) || strcmp(json_string_value(type), "object") != 0)) {
        why(w, wc, "plugin %s: config_schema must describe an object (\"type\": \"object\")", d->name);
        json_decref(schema);
        return CH_REFUSE_SCHEMA;
    }
    json_decref(schema);
    return CH_REFUSE_NONE;
}

/* Field by field, and only what the plugin's struct_size covers. */
static void resolve_ops(const c360_plugin_desc *d, ch_plugin_ops *ops)
{
    memset(ops, 0, sizeof *ops);
#define TAKE(f) do { if (C360_DESC_HAS(d, f)) ops->f = d->f; } while (0)
    TAKE(init);
    TAKE(fini);
    TAKE(validate_config);
    TAKE(instance_open);
    TAKE(instance_close);
    TAKE(tick);
    TAKE(webhook_verify);
    TAKE(event);
    TAKE(deliver);
    TAKE(disconnect);
    TAKE(webhook_route);  /* 1.2 */
    TAKE(oauth_connect);  /* 1.3: optional; read only when struct_size
                             covers it, so a 1.0..1.2 descriptor (shorter)
                             never has it, whatever lies past its end */
    /* 1.4: optional, the same way; and only for a destination, since
     * nothing else is ever delivered to (deliver_batch never runs without
     * deliver, which the capability requires). */
    if (d->capabilities & C360_CAP_DESTINATION) TAKE(deliver_batch);
    /* 1.7: optional, and only for a webhook source (it looks ahead at
     * events, which only such a source is given). */
    if (d->capabilities & C360_CAP_SOURCE_WEBHOOK) TAKE(event_prefetch);
#undef TAKE
}

ch_err ch_loader_load_file(ch_loader *ld, const char *path)
{
    char reason[REASON_MAX];

    /* RTLD_NOW: an unresolved symbol fails here with its name, not at the
     * first tick. RTLD_LOCAL: the plugin's symbols never satisfy another
     * plugin's references. */
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        snprintf(reason, sizeof reason, "cannot load: %s", e ? e : "unknown dlopen error");
        refuse(ld, path, CH_REFUSE_DLOPEN, reason);
        return CH_EREFUSED;
    }

    dlerror();
    void *sym = dlsym(dl, C360_ENTRY_SYMBOL);
    if (!sym) {
        snprintf(reason, sizeof reason, "no exported symbol %s (is it a Connector 360 plugin? was it built with C360_PLUGIN_ENTRY?)",
                 C360_ENTRY_SYMBOL);
        dlclose(dl);
        refuse(ld, path, CH_REFUSE_NO_ENTRY, reason);
        return CH_EREFUSED;
    }
    c360_entry_fn entry;
    /* POSIX allows converting dlsym's void* to a function pointer; memcpy
     * keeps -pedantic quiet about it. */
    memcpy(&entry, &sym, sizeof entry);
    const c360_plugin_desc *d = entry();
    if (!d) {
        dlclose(dl);
        refuse(ld, path, CH_REFUSE_NULL_DESC, C360_ENTRY_SYMBOL " returned NULL");
        return CH_EREFUSED;
    }

    ch_refusal r = ch_loader_check_desc(d, reason, sizeof reason);
    if (r != CH_REFUSE_NONE) {
        dlclose(dl);
        refuse(ld, path, r, reason);
        return CH_EREFUSED;
    }
    const ch_plugin *dup = ch_loader_find(ld, d->name);
    if (dup) {
        snprintf(reason, sizeof reason, "a plugin named %s is already loaded from %s",
                 d->name, ch_plugin_path(dup));
        dlclose(dl);
        refuse(ld, path, CH_REFUSE_DUPLICATE, reason);
        return CH_EREFUSED;
    }

    ch_plugin *p = ch_calloc(1, sizeof *p);
    p->path = ch_strdup(path);
    p->name = ch_strdup(d->name);
    p->dl = dl;
    p->desc = d;
    resolve_ops(d, &p->ops);

    c360_call call;
    ch_call_init(&call, p->name, NULL, NULL, 0);
    int32_t st = ch_status_normalise(p->ops.init(&call, ld->host, &p->data));
    if (st != C360_OK) {
        snprintf(reason, sizeof reason, "init returned %d (%s)%s%.400s", (int)st,
                 c360_strstatus(st), call.error[0] ? ": " : "", call.error);
        ch_call_done(&call);
        p->ops.fini = NULL; /* init failed: nothing to finalise */
        plugin_free(p);
        refuse(ld, path, CH_REFUSE_INIT, reason);
        return CH_EREFUSED;
    }
    ch_call_done(&call);

    if (ld->count == ld->cap) {
        ld->cap = ld->cap ? ld->cap * 2 : 8;
        ld->plugins = ch_realloc(ld->plugins, ld->cap * sizeof *ld->plugins);
    }
    ld->plugins[ld->count++] = p;
    char abi[16];
    snprintf(abi, sizeof abi, "%u.%u", d->abi_major, d->abi_minor);
    ch_log(CH_LOG_INFO, "plugin loaded", "plugin", p->name, "version",
           d->version, "abi", abi, "file", path, NULL);
    return CH_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

ch_err ch_loader_load_dir(ch_loader *ld, const char *dir)
{
    DIR *dh = opendir(dir);
    if (!dh) {
        ch_log(CH_LOG_ERROR, "cannot read plugin directory", "dir", dir,
               "error", strerror(errno), NULL);
        return CH_EIO;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 3, ".so") != 0) continue;
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = ch_realloc(names, cap * sizeof *names);
        }
        names[n++] = ch_strdup(de->d_name);
    }
    closedir(dh);
    /* Name order, so "which of two duplicates wins" never depends on the
     * file system. */
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char *path = ch_asprintf("%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            ch_loader_load_file(ld, path);
        free(path);
        free(names[i]);
    }
    free(names);
    return CH_OK;
}

size_t ch_loader_count(const ch_loader *ld) { return ld->count; }

const ch_plugin *ch_loader_get(const ch_loader *ld, size_t i)
{
    return i < ld->count ? ld->plugins[i] : NULL;
}

const ch_plugin *ch_loader_find(const ch_loader *ld, const char *name)
{
    for (size_t i = 0; i < ld->count; i++)
        if (strcmp(ld->plugins[i]->name, name) == 0) return ld->plugins[i];
    return NULL;
}

size_t ch_loader_refused_count(const ch_loader *ld) { return ld->refused_count; }

const char *ch_loader_refused_path(const ch_loader *ld, size_t i)
{
    return i < ld->refused_count ? ld->refused[i].path : NULL;
}

ch_refusal ch_loader_refused_code(const ch_loader *ld, size_t i)
{
    return i < ld->refused_count ? ld->refused[i].code : CH_REFUSE_NONE;
}

const char *ch_loader_refused_reason(const ch_loader *ld, size_t i)
{
    return i < ld->refused_count ? ld->refused[i].reason : NULL;
}

const char *ch_plugin_name(const ch_plugin *p) { return p->name; }
const char *ch_plugin_path(const ch_plugin *p) { return p->path; }
const c360_plugin_desc *ch_plugin_desc(const ch_plugin *p) { return p->desc; }
const ch_plugin_ops *ch_plugin_ops_get(const ch_plugin *p) { return &p->ops; }
void *ch_plugin_data(const ch_plugin *p) { return p->data; }

json_t *ch_plugin_to_json(const ch_plugin *p)
{
    const c360_plugin_desc *d = p->desc;
    json_t *caps = json_array();
    if (d->capabilities & C360_CAP_SOURCE_TICK) json_array_append_new(caps, json_string("source_tick"));
    if (d->capabilities & C360_CAP_SOURCE_WEBHOOK) json_array_append_new(caps, json_string("source_webhook"));
    if (d->capabilities & C360_CAP_DESTINATION) json_array_append_new(caps, json_string("destination"));
    char abi[16];
    snprintf(abi, sizeof abi, "%u.%u", d->abi_major, d->abi_minor);
    /* Checked at load: the schema parses. */
    json_t *schema = json_loads(d->config_schema, 0, NULL);
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:b, s:b, s:o, s:s}",
                     "name", p->name,
                     "version", d->version,
                     "description", d->description ? d->description : "",
                     "abi", abi,
                     "capabilities", caps,
                     "oauth_connect", p->ops.oauth_connect != NULL,
                     "deliver_batch", p->ops.deliver_batch != NULL,
                     "event_prefetch", p->ops.event_prefetch != NULL,
                     "config_schema", schema ? schema : json_object(),
                     "file", p->path);
}

json_t *ch_loader_to_json(const ch_loader *ld)
{
    json_t *plugins = json_array();
    for (size_t i = 0; i < ld->count; i++)
        json_array_append_new(plugins, ch_plugin_to_json(ld->plugins[i]));
    json_t *ref = json_array();
    for (size_t i = 0; i < ld->refused_count; i++)
        json_array_append_new(ref, json_pack("{s:s, s:s, s:s}",
                                             "file", ld->refused[i].path,
                                             "code", ch_refusal_code(ld->refused[i].code),
                                             "reason", ld->refused[i].reason));
    return json_pack("{s:o, s:o}", "plugins", plugins, "refused", ref);
}
