/* test_config.c -- configuration: defaults, overrides, and that every bad
 * value is refused with the JSON Pointer of its key. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "redis_url.h"

static char tmpl[] = "/tmp/c360-cfg-XXXXXX";

static ch_err load_text(const char *text, json_t *ov, ch_config **out, char *err, size_t cap)
{
    FILE *f = fopen(tmpl, "w");
    fputs(text, f);
    fclose(f);
    return ch_config_load(tmpl, ov, "/default/plugins", out, err, cap);
}

#define REFUSED(text, fragment)                                           \
    do {                                                                  \
        ch_config *c_ = NULL;                                             \
        char e_[512] = "";                                                \
        CHECK(load_text(text, NULL, &c_, e_, sizeof e_) == CH_ECONFIG);   \
        CHECK(c_ == NULL);                                                \
        CHECK_CONTAINS(e_, fragment);                                     \
    } while (0)

static int changes;
static void count_change(const char *p, void *arg) { (void)p; (void)arg; changes++; }

int main(void)
{
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0);
    close(fd);
    char err[512];
    ch_config *c = NULL;

    /* Defaults: dev Redis, loopback listener, default plugin dir. */
    CHECK(ch_config_load(NULL, NULL, "/default/plugins", &c, err, sizeof err) == CH_OK);
    CHECK(c && c->redis_dev);
    CHECK_STR(c->listen_host, "127.0.0.1");
    CHECK(c->listen_port == 8360);
    CHECK(c->plugin_dir_count == 1);
    CHECK_STR(c->plugin_dirs[0], "/default/plugins");
    CHECK(c->http_max_body == 1024 * 1024);
    CHECK(c->state_max_value == 1024 * 1024 && c->out_deny_private == 1);
    CHECK(c->rl_slowdown_pct == 90 && c->rl_pause_pct == 95 && c->oauth_refresh_margin_s == 300);
    ch_config_free(c);

    /* A full file. */
    CHECK(load_text("{\"listen\":\"127.0.0.1:0\",\"redis\":{\"url\":\"redis://localhost:7000/2\","
                    "\"username\":\"c360\",\"password_file\":\"/run/pw\"},\"plugin_dirs\":[\"/a\",\"/b\"],"
                    "\"log_level\":\"debug\",\"shutdown_timeout_ms\":500,\"http\":{\"max_body_bytes\":2048}}",
                    NULL, &c, err, sizeof err) == CH_OK);
    CHECK(c && !c->redis_dev);
    CHECK_STR(c->redis.host, "localhost");
    CHECK(c->redis.port == 7000 && c->redis.db == 2);
    CHECK_STR(c->redis_username, "c360");
    CHECK(c->plugin_dir_count == 2);
    CHECK(c->log_level == 0);
    CHECK(c->http_max_body == 2048);
    ch_config *base = c;

    /* Overrides win key by key, nested objects merge. */
    json_t *ov = json_pack("{s:{s:s}, s:s}", "redis", "url", "unix:///tmp/r.sock", "log_level", "warn");
    CHECK(load_text("{\"redis\":{\"url\":\"redis://h:1\",\"username\":\"u\",\"password_file\":\"/p\"}}",
                    ov, &c, err, sizeof err) == CH_OK);
    CHECK(c && c->redis.is_unix);
    CHECK_STR(c->redis.path, "/tmp/r.sock");
    CHECK_STR(c->redis_username, "u");
    CHECK(c->log_level == 2);
    json_decref(ov);

    /* Diff names changed keys. */
    changes = 0;
    ch_config_diff(base, c, count_change, NULL);
    CHECK(changes > 3);
    changes = 0;
    ch_config_diff(base, base, count_change, NULL);
    CHECK(changes == 0);
    ch_config_free(c);
    ch_config_free(base);

    /* Every refusal names its key. */
    REFUSED("{\"listen\":8360}", "/listen: must be a string");
    REFUSED("{\"listen\":\"nocolon\"}", "/listen: must be ADDR:PORT");
    REFUSED("{\"listen\":\"127.0.0.1:99999\"}", "/listen: port");
    REFUSED("{\"redis\":{\"url\":\"http://x\"}}", "/redis/url: must start with redis://");
    REFUSED("{\"redis\":{\"url\":\"redis://:secret@h:1\"}}", "/redis/url: must not carry credentials");
    REFUSED("{\"redis\":{\"url\":\"redis://h:0\"}}", "/redis/url: port");
    REFUSED("{\"redis\":{\"url\":\"redis://h:1/99\"}}", "/redis/url: database");
    REFUSED("{\"redis\":{\"url\":\"unix://relative\"}}", "/redis/url: unix URL needs an absolute path");
    REFUSED("{\"redis\":{\"password_file\":\"/p\"}}", "/redis/url: is required");
    REFUSED("{\"redis\":{\"password\":\"hunter2\"}}", "/redis: unknown key \"password\"");
    REFUSED("{\"redis\":[]}", "/redis: must be an object");
    REFUSED("{\"plugin_dirs\":\"/x\"}", "/plugin_dirs: must be an array");
    REFUSED("{\"plugin_dirs\":[\"/x\", 3]}", "/plugin_dirs/1: must be a non-empty string");
    REFUSED("{\"log_level\":\"loud\"}", "/log_level: must be one of");
    REFUSED("{\"shutdown_timeout_ms\":-1}", "/shutdown_timeout_ms: must be between 0 and 600000");
    REFUSED("{\"shutdown_timeout_ms\":\"10\"}", "/shutdown_timeout_ms: must be an integer");
    REFUSED("{\"http\":{\"max_body_bytes\":1}}", "/http/max_body_bytes: must be between");
    REFUSED("{\"http\":{\"maxbody\":1}}", "/http: unknown key \"maxbody\"");
    REFUSED("{\"lisen\":\"x\"}", "/: unknown key \"lisen\"");
    REFUSED("{\"state\":{\"max_value_bytes\":1}}", "/state/max_value_bytes: must be between");
    REFUSED("{\"ratelimit\":{\"slowdown_pct\":96}}", "/ratelimit/pause_pct: must not be below slowdown_pct");
    REFUSED("{\"outbound_http\":{\"deny_private\":\"no\"}}", "/outbound_http/deny_private: must be true or false");
    REFUSED("{\"outbound_http\":{\"allow\":[\"\"]}}", "/outbound_http/allow/0: must be a CIDR");
    REFUSED("{\"oauth\":{\"lease_ms\":5}}", "/oauth/lease_ms: must be between");
    REFUSED("{\"pipeline\":{\"workers\":65}}", "/pipeline/workers: must be between 0 and 64");
    REFUSED("{\"pipeline\":{\"shares\":1}}", "/pipeline: unknown key \"shares\"");
    REFUSED("{\"outbound_http\":{\"allow\":[\"10.0.0.0/8\",\"not-a-cidr\"]}}", "/outbound_http/allow/1: must be a CIDR");
    REFUSED("{\"audit\":{\"retention\":5}}", "/audit: unknown key \"retention\"");
    REFUSED("{\"data_dir\":\"\"}", "/data_dir: must not be empty");
    REFUSED("[1,2]", "/: the configuration must be a JSON object");
    REFUSED("{\"a\":1,\"a\":2}", "duplicate");
    REFUSED("{not json", "line 1");

    /* A missing file is named. */
    CHECK(ch_config_load("/nonexistent/c360.json", NULL, NULL, &c, err, sizeof err) == CH_ECONFIG);
    CHECK_CONTAINS(err, "/nonexistent/c360.json");

    /* URL parser edge cases. */
    ch_redis_url u;
    char why[128];
    CHECK(ch_redis_url_parse("redis://127.0.0.1", &u, why, sizeof why) == 0 && u.port == 6379);
    CHECK(ch_redis_url_parse("unix:///tmp/x.sock?db=3", &u, why, sizeof why) == 0 && u.db == 3);
    CHECK(ch_redis_url_parse("unix:///tmp/x.sock?foo=1", &u, why, sizeof why) < 0);
    CHECK(ch_redis_url_parse("redis://", &u, why, sizeof why) < 0);
    CHECK(ch_redis_url_parse("redis://h:12x", &u, why, sizeof why) < 0);
    CHECK(ch_redis_url_parse("redis://[::1]:6380", &u, why, sizeof why) == 0 && u.port == 6380);
    CHECK_STR(u.host, "::1");
    CHECK(ch_redis_url_parse("redis://[::1]", &u, why, sizeof why) == 0 && u.port == 6379);
    CHECK_STR(u.host, "::1");
    CHECK(ch_redis_url_parse("redis://::1:6379", &u, why, sizeof why) < 0);

    unlink(tmpl);
    CHECK_DONE();
}
