/* test_loader.c -- loads tests/plugins/ (one plugin per refusal reason) and
 * checks that each bad plugin is refused for its exact reason, with the file
 * named, while the good ones load and the loader goes on. */
#include <stdlib.h>

#include "call.h"
#include "check.h"
#include "loader.h"
#include "log.h"

static int host_inits;

/* A minimal host table: the loader only needs init to be callable. */
static void t_log(c360_call *c, int32_t l, const char *f, ...) { (void)c; (void)l; (void)f; }
static void t_error(c360_call *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ch_call_set_error(call, fmt, ap);
    va_end(ap);
}

static const char *reason_for(const ch_loader *ld, const char *file, ch_refusal *code)
{
    for (size_t i = 0; i < ch_loader_refused_count(ld); i++) {
        const char *p = ch_loader_refused_path(ld, i);
        if (strstr(p, file)) { *code = ch_loader_refused_code(ld, i); return ch_loader_refused_reason(ld, i); }
    }
    *code = CH_REFUSE_NONE;
    return NULL;
}

#define EXPECT_REFUSED(file, want, fragment)                               \
    do {                                                                   \
        ch_refusal got_;                                                   \
        const char *why_ = reason_for(ld, file, &got_);                    \
        CHECK(why_ != NULL);                                               \
        CHECK_STR(ch_refusal_code(got_), ch_refusal_code(want));           \
        CHECK_CONTAINS(why_, fragment);                                    \
    } while (0)

int main(int argc, char **argv)
{
    const char *dir = argc == 2 ? argv[1] : getenv("C360_TEST_PLUGIN_DIR");
    if (!dir) { fprintf(stderr, "usage: test_loader PLUGIN_DIR (or C360_TEST_PLUGIN_DIR)\n"); return 2; }
    ch_log_set_level(CH_LOG_ERROR); /* refusals log at warn: keep output short */
    (void)host_inits;
    c360_host_api api;
    memset(&api, 0, sizeof api);
    api.struct_size = sizeof api;
    api.abi_major = C360_ABI_MAJOR;
    api.abi_minor = C360_ABI_MINOR;
    api.log = t_log;
    api.call_error = t_error;

    ch_loader *ld = ch_loader_new(&api);
    CHECK(ch_loader_load_dir(ld, dir) == CH_OK);

    /* The good ones. */
    CHECK(ch_loader_find(ld, "good") != NULL);
    const ch_plugin *dupe = ch_loader_find(ld, "dupe");
    CHECK(dupe != NULL);
    CHECK_CONTAINS(dupe ? ch_plugin_path(dupe) : NULL, "t09_dup_a.so");
    CHECK(ch_loader_count(ld) == 3);
    /* ABI 1.7's event_prefetch is taken from webhook sources only. */
    const ch_plugin *nowh = ch_loader_find(ld, "prefetch_nowh");
    CHECK(nowh != NULL && ch_plugin_desc(nowh)->event_prefetch != NULL);
    CHECK(nowh != NULL && ch_plugin_ops_get(nowh)->event_prefetch == NULL);
    if (nowh) {
        json_t *pj = ch_plugin_to_json(nowh);
        CHECK(json_is_false(json_object_get(pj, "event_prefetch")));
        json_decref(pj);
    }

    EXPECT_REFUSED("t02_no_entry.so", CH_REFUSE_NO_ENTRY, "c360_plugin_entry");
    EXPECT_REFUSED("t03_bad_magic.so", CH_REFUSE_MAGIC, "0x12345678");
    EXPECT_REFUSED("t04_major.so", CH_REFUSE_ABI_MAJOR, "plugin built for ABI 2.0, host speaks 1.x");
    EXPECT_REFUSED("t05_minor.so", CH_REFUSE_ABI_MINOR, "upgrade c360d");
    EXPECT_REFUSED("t06_small.so", CH_REFUSE_STRUCT_SIZE, "struct_size 16");
    EXPECT_REFUSED("t07_unresolved.so", CH_REFUSE_DLOPEN, "c360_test_symbol_that_does_not_exist");
    EXPECT_REFUSED("t08_missing_cb.so", CH_REFUSE_CALLBACKS, "tick");
    EXPECT_REFUSED("t10_dup_b.so", CH_REFUSE_DUPLICATE, "t09_dup_a.so");
    EXPECT_REFUSED("t11_init_fail.so", CH_REFUSE_INIT, "upstream credentials missing");
    EXPECT_REFUSED("t12_bad_name.so", CH_REFUSE_NAME, "[a-z0-9_]");
    EXPECT_REFUSED("t13_bad_schema.so", CH_REFUSE_SCHEMA, "not a JSON object");
    EXPECT_REFUSED("t14_null_desc.so", CH_REFUSE_NULL_DESC, "returned NULL");
    EXPECT_REFUSED("t15_no_caps.so", CH_REFUSE_CAPABILITIES, "no capability");
    EXPECT_REFUSED("t16_unknown_caps.so", CH_REFUSE_CAPABILITIES, "0x80");
    EXPECT_REFUSED("t17_not_elf.so", CH_REFUSE_DLOPEN, "cannot load");
    EXPECT_REFUSED("t18_bad_utf8.so", CH_REFUSE_DESCRIPTOR, "UTF-8");
    EXPECT_REFUSED("t19_short17.so", CH_REFUSE_STRUCT_SIZE, "ABI 1.7 descriptor");
    CHECK(ch_loader_refused_count(ld) == 17);

    /* The JSON the admin API serves carries both lists. */
    json_t *j = ch_loader_to_json(ld);
    CHECK(json_array_size(json_object_get(j, "plugins")) == 3);
    CHECK(json_array_size(json_object_get(j, "refused")) == 17);
    json_t *first = json_array_get(json_object_get(j, "plugins"), 0);
    CHECK(json_is_object(json_object_get(first, "config_schema")));
    json_decref(j);

    /* Loading the same good file again is a duplicate, not a crash. */
    char *again = NULL;
    const ch_plugin *good = ch_loader_find(ld, "good");
    if (good) again = strdup(ch_plugin_path(good));
    CHECK(again && ch_loader_load_file(ld, again) == CH_EREFUSED);
    free(again);
    CHECK(ch_loader_load_dir(ld, "/nonexistent/dir") == CH_EIO);

    ch_loader_free(ld);
    CHECK_DONE();
}
