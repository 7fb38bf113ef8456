/* fuzz_loader_desc.c -- the loader's descriptor validation
 * (host/loader.c ch_loader_check_desc), which runs on whatever a plugin's
 * entry point returns. The input is a byte image of a descriptor: the
 * header fields and the capability bits come from it, each string field
 * (name, version, description, config_schema) is NULL or a cut of the
 * rest of the input, each callback present or not by a bit. The
 * descriptor is allocated exactly struct_size bytes long (bounded by
 * sizeof) so that a read past what the plugin declared trips ASan. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "log.h"

static int32_t cb(void) { return 0; }

typedef struct rd {
    const uint8_t *p;
    size_t n;
} rd;

static uint32_t take32(rd *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4 && r->n; i++, r->p++, r->n--) v |= (uint32_t)*r->p << (8 * i);
    return v;
}

/* A string cut at the next 0xff byte (NULL when the flag says so). */
static char *take_str(rd *r, int present)
{
    const uint8_t *e = memchr(r->p, 0xff, r->n);
    size_t len = e ? (size_t)(e - r->p) : r->n;
    char *s = NULL;
    if (present) {
        s = malloc(len + 1);
        memcpy(s, r->p, len);
        s[len] = '\0';
    }
    r->p += len + (e ? 1 : 0);
    r->n -= len + (e ? 1 : 0);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once++) ch_log_set_level(CH_LOG_ERROR);
    rd r = {data, size};
    uint32_t h0 = take32(&r), h1 = take32(&r), h2 = take32(&r), bits = take32(&r);
    c360_plugin_desc full;
    memset(&full, 0, sizeof full);
    /* Mostly well-formed headers, so the fuzzer gets past the magic. */
    full.magic = (h0 & 1) ? h0 : C360_PLUGIN_MAGIC;
    full.abi_major = (h1 & 0x10000) ? (uint16_t)h1 : C360_ABI_MAJOR;
    full.abi_minor = (uint16_t)((h1 >> 17) & 7);
    size_t ss = (h2 & 1) ? (h2 >> 1) % (sizeof full + 1) : sizeof full;
    full.struct_size = (uint32_t)ss;
    full.capabilities = (bits & 0x100) ? (bits >> 24) : (bits & 7);
    full.name = take_str(&r, bits & 0x200);
    full.version = take_str(&r, bits & 0x400);
    full.description = take_str(&r, bits & 0x800);
    full.config_schema = take_str(&r, bits & 0x1000);
    void (*f)(void) = (void (*)(void))cb;
#define SET(field, bit) do { if (bits & (1u << (bit))) memcpy(&full.field, &f, sizeof f); } while (0)
    SET(init, 13); SET(fini, 14); SET(validate_config, 15); SET(instance_open, 16);
    SET(instance_close, 17); SET(tick, 18); SET(webhook_verify, 19); SET(event, 20);
    SET(deliver, 21); SET(disconnect, 22); SET(webhook_route, 23);
#undef SET
    /* At least the fixed header is always there (the loader reads it
     * before it knows the size); the rest only as far as struct_size. */
    size_t alloc = ss < offsetof(c360_plugin_desc, name) ? offsetof(c360_plugin_desc, name) : ss;
    c360_plugin_desc *d = malloc(alloc);
    memcpy(d, &full, alloc);
    char why[512];
    why[0] = '\0';
    ch_refusal rf = ch_loader_check_desc(d, why, sizeof why);
    if ((unsigned)rf >= CH_REFUSE__COUNT || (rf != CH_REFUSE_NONE && !why[0])) abort();
    (void)strlen(ch_refusal_code(rf));
    free(d);
    free((char *)full.name);
    free((char *)full.version);
    free((char *)full.description);
    free((char *)full.config_schema);
    return 0;
}
