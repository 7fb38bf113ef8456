/* fuzz_config.c -- c360d's configuration file (host/config.c): the bytes
 * are the file; it is loaded, validated, merged with fixed command-line
 * style overrides and diffed against the defaults, as SIGHUP does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

static char g_path[64];

static void count(const char *ptr, void *arg)
{
    (void)strlen(ptr);
    ++*(size_t *)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_path[0]) {
        ch_log_set_level(CH_LOG_ERROR);
        snprintf(g_path, sizeof g_path, "/tmp/c360-fuzz-config-%d.json", (int)getpid());
    }
    /* ch_config_load reads a file: the real path, with its size limit. */
    FILE *f = fopen(g_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    char err[512];
    ch_config *c = NULL, *d = NULL;
    json_t *ov = json_pack("{s:s, s:{s:i}}", "log_level", "warn", "pipeline", "workers", 1);
    if (ch_config_load(g_path, (size & 1) ? ov : NULL, "/nonexistent/plugins", &c, err,
                       sizeof err) == CH_OK) {
        if (ch_config_load(NULL, NULL, NULL, &d, err, sizeof err) != CH_OK) abort();
        size_t n = 0;
        ch_config_diff(c, d, count, &n);
        ch_config_diff(d, c, count, &n);
        ch_config_free(d);
        ch_config_free(c);
    } else if (!memchr(err, '\0', sizeof err)) {
        abort();
    }
    json_decref(ov);
    return 0;
}
