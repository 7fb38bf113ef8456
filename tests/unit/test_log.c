/* test_log.c -- log lines are single, valid JSON objects whatever the
 * input: quotes, control bytes, oversized values. */
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "log.h"

static json_t *log_one(int level, const char *msg, const char *k, const char *v)
{
    int fds[2];
    if (pipe(fds) < 0) return NULL;
    ch_log_set_fd(fds[1]);
    ch_log(level, msg, k, v, NULL);
    ch_log_set_fd(-1);
    close(fds[1]);
    char buf[8192];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    if (n <= 0) return json_object(); /* filtered: an empty object */
    buf[n] = '\0';
    CHECK(buf[n - 1] == '\n');
    CHECK(strchr(buf, '\n') == buf + n - 1); /* exactly one line */
    return json_loads(buf, 0, NULL);
}

int main(void)
{
    ch_log_set_level(CH_LOG_DEBUG);
    json_t *j = log_one(CH_LOG_INFO, "hello \"world\"\n", "k", "tab\there\x01");
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "msg")), "hello \"world\"\n");
    CHECK_STR(json_string_value(json_object_get(j, "k")), "tab\there\x01");
    CHECK_STR(json_string_value(json_object_get(j, "level")), "info");
    CHECK(json_is_string(json_object_get(j, "ts")));
    json_decref(j);

    /* A huge value is truncated, and the line is still valid JSON. */
    char *big = malloc(20000);
    memset(big, '"', 19999);
    big[19999] = '\0';
    j = log_one(CH_LOG_WARN, "big", "v", big);
    CHECK(j != NULL);
    CHECK(j && strlen(json_string_value(json_object_get(j, "v"))) < 4096);
    json_decref(j);
    free(big);

    /* Below the level: nothing written. */
    ch_log_set_level(CH_LOG_ERROR);
    j = log_one(CH_LOG_INFO, "quiet", "k", "v");
    CHECK(j && json_object_size(j) == 0);
    json_decref(j);

    CHECK(ch_log_level_parse("warn") == CH_LOG_WARN);
    CHECK(ch_log_level_parse("WARN") == -1);
    CHECK(ch_log_level_parse(NULL) == -1);
    CHECK_DONE();
}
