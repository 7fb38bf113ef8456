/* test_usage.c -- provider usage headers -> (usage %, pause): every shape in
 * providers.md, the combinations, and malformed input that must be ignored
 * rather than crash or count. Pure: no Redis. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "connector_api.h"
#include "usage.h"

/* 2024-05-01T00:00:00Z */
#define NOW 1714521600000LL

static c360_http_response resp_of(int32_t status, const c360_header *h, uint32_t n)
{
    c360_http_response r = {0};
    r.struct_size = sizeof r;
    r.status = status;
    r.header_count = n;
    r.headers = h;
    return r;
}

/* Parses one header on a response with the given status. */
static int one(int32_t status, const char *name, const char *value, ch_usage *u)
{
    c360_header h = {name, value};
    c360_http_response r = resp_of(status, &h, 1);
    return ch_usage_parse(&r, NOW, u);
}

int main(void)
{
    ch_usage u;

    /* Meta X-App-Usage: the highest of the three counters. */
    CHECK(one(200, "x-app-usage", "{\"call_count\":28,\"total_cputime\":25,\"total_time\":25}", &u) == 1);
    CHECK(u.usage_pct == 28 && u.pause_ms == 0);
    CHECK(one(200, "x-app-usage", "{\"call_count\":3,\"total_cputime\":91,\"total_time\":40}", &u) == 1);
    CHECK(u.usage_pct == 91);
    /* Same shape on X-Page-Usage. */
    CHECK(one(200, "x-page-usage", "{\"call_count\":97,\"total_cputime\":1,\"total_time\":2}", &u) == 1);
    CHECK(u.usage_pct == 97);
    /* Header names match in any case (a plugin-built response). */
    CHECK(one(200, "X-App-Usage", "{\"call_count\":55}", &u) == 1 && u.usage_pct == 55);

    /* X-Ad-Account-Usage: fractional percent rounds up; the reset is a wait
     * only once the account is at 100 %. */
    CHECK(one(200, "x-ad-account-usage", "{\"acc_id_util_pct\":9.67,\"reset_time_duration\":0}", &u) == 1);
    CHECK(u.usage_pct == 10 && u.pause_ms == 0);
    CHECK(one(200, "x-ad-account-usage", "{\"acc_id_util_pct\":50,\"reset_time_duration\":120}", &u) == 1);
    CHECK(u.usage_pct == 50 && u.pause_ms == 0);
    CHECK(one(200, "x-ad-account-usage", "{\"acc_id_util_pct\":100,\"reset_time_duration\":120}", &u) == 1);
    CHECK(u.usage_pct == 100 && u.pause_ms == 120000);

    /* X-Business-Use-Case-Usage: max over every id and entry; the
     * estimated time to regain access (minutes) is a wait. */
    CHECK(one(200, "x-business-use-case-usage",
              "{\"111\":[{\"type\":\"ads_management\",\"call_count\":95,\"total_cputime\":20,"
              "\"total_time\":20,\"estimated_time_to_regain_access\":0}],"
              "\"222\":[{\"type\":\"pages\",\"call_count\":5,\"total_cputime\":98,\"total_time\":1,"
              "\"estimated_time_to_regain_access\":0},{\"type\":\"x\",\"call_count\":1}]}", &u) == 1);
    CHECK(u.usage_pct == 98 && u.pause_ms == 0);
    CHECK(one(200, "x-business-use-case-usage",
              "{\"111\":[{\"type\":\"ads_management\",\"call_count\":100,\"total_cputime\":20,"
              "\"total_time\":20,\"estimated_time_to_regain_access\":5}]}", &u) == 1);
    CHECK(u.usage_pct == 100 && u.pause_ms == 5 * 60000);

    /* Retry-After: seconds, HTTP-date in all three forms, ISO 8601. */
    uint32_t ms = 0;
    CHECK(ch_usage_retry_after("120", NOW, &ms) == 0 && ms == 120000);
    CHECK(ch_usage_retry_after(" 7 ", NOW, &ms) == 0 && ms == 7000);
    CHECK(ch_usage_retry_after("Wed, 01 May 2024 00:01:30 GMT", NOW, &ms) == 0 && ms == 90000);
    CHECK(ch_usage_retry_after("Wednesday, 01-May-24 00:00:10 GMT", NOW, &ms) == 0 && ms == 10000);
    CHECK(ch_usage_retry_after("Wed May  1 00:00:05 2024", NOW, &ms) == 0 && ms == 5000);
    CHECK(ch_usage_retry_after("2024-05-01T00:02:00Z", NOW, &ms) == 0 && ms == 120000);
    CHECK(ch_usage_retry_after("2024-05-01T02:02:00.250+02:00", NOW, &ms) == 0 && ms == 120000);
    CHECK(ch_usage_retry_after("2024-05-01T00:02:00+0000", NOW, &ms) == 0 && ms == 120000);
    /* A date in the past: no wait, but still a valid value. */
    CHECK(ch_usage_retry_after("Tue, 30 Apr 2024 23:00:00 GMT", NOW, &ms) == 0 && ms == 0);
    /* Capped at a day. */
    CHECK(ch_usage_retry_after("999999999", NOW, &ms) == 0 && ms == CH_USAGE_MAX_PAUSE_MS);
    CHECK(ch_usage_retry_after("Sat, 01 May 2100 00:00:00 GMT", NOW, &ms) == 0 && ms == CH_USAGE_MAX_PAUSE_MS);
    /* Refused: garbage, negative, impossible dates, zone-less ISO. */
    CHECK(ch_usage_retry_after("soon", NOW, &ms) == -1);
    CHECK(ch_usage_retry_after("-5", NOW, &ms) == -1);
    CHECK(ch_usage_retry_after("12abc", NOW, &ms) == -1);
    CHECK(ch_usage_retry_after("", NOW, &ms) == -1);
    CHECK(ch_usage_retry_after("Wed, 31 Feb 2024 00:00:00 GMT", NOW, &ms) == -1);
    CHECK(ch_usage_retry_after("Wed, 01 Foo 2024 00:00:00 GMT", NOW, &ms) == -1);
    CHECK(ch_usage_retry_after("2024-05-01T00:02:00", NOW, &ms) == -1);
    CHECK(ch_usage_retry_after("2024-05-01T25:02:00Z", NOW, &ms) == -1);
    CHECK(ch_usage_retry_after("1234567890123", NOW, &ms) == -1);

    /* Retry-After counts on errors only: on a 3xx it is about redirects. */
    CHECK(one(429, "retry-after", "30", &u) == 1 && u.pause_ms == 30000 && u.usage_pct == 100);
    CHECK(one(503, "retry-after", "30", &u) == 1 && u.pause_ms == 30000 && u.usage_pct == 0);
    CHECK(one(301, "retry-after", "30", &u) == 0 && u.pause_ms == 0);
    CHECK(one(200, "retry-after", "30", &u) == 0);

    /* Zoom: X-RateLimit-Type/-Limit/-Remaining. */
    {
        c360_header h[] = {{"x-ratelimit-category", "Medium"}, {"x-ratelimit-type", "QPS"},
                           {"x-ratelimit-limit", "30"}, {"x-ratelimit-remaining", "3"}};
        c360_http_response r = resp_of(200, h, 4);
        CHECK(ch_usage_parse(&r, NOW, &u) == 1 && u.usage_pct == 90 && u.pause_ms == 0);
        /* A per-second 429 without Retry-After: a one-second pause. */
        h[3].value = "0";
        r = resp_of(429, h, 4);
        CHECK(ch_usage_parse(&r, NOW, &u) == 1 && u.usage_pct == 100 && u.pause_ms == 1000);
    }
    {
        /* Daily limit used up, no Retry-After: wait for midnight UTC. */
        c360_header h[] = {{"x-ratelimit-type", "Daily-limit"}, {"x-ratelimit-limit", "1000"},
                           {"x-ratelimit-remaining", "0"}};
        c360_http_response r = resp_of(429, h, 3);
        CHECK(ch_usage_parse(&r, NOW + 3600000, &u) == 1);
        CHECK(u.usage_pct == 100 && u.pause_ms == 23u * 3600000u);
        /* ... unless Zoom says when, which wins. */
        c360_header h2[] = {{"x-ratelimit-type", "Daily-limit"}, {"x-ratelimit-limit", "1000"},
                            {"x-ratelimit-remaining", "0"}, {"retry-after", "2024-05-01T00:10:00Z"}};
        r = resp_of(429, h2, 4);
        CHECK(ch_usage_parse(&r, NOW, &u) == 1 && u.pause_ms == 600000);
    }
    {
        /* Generic: usage from limit/remaining, rounded up (3 of 10 = 30). */
        c360_header h[] = {{"x-ratelimit-limit", "10"}, {"x-ratelimit-remaining", "7"},
                           {"x-ratelimit-reset", "1714521660"}};
        c360_http_response r = resp_of(200, h, 3);
        CHECK(ch_usage_parse(&r, NOW, &u) == 1 && u.usage_pct == 30 && u.pause_ms == 0);
        /* Exhausted: the reset is a wait -- epoch seconds ... */
        h[1].value = "0";
        CHECK(ch_usage_parse(&r, NOW, &u) == 1 && u.usage_pct == 100 && u.pause_ms == 60000);
        /* ... epoch milliseconds ... */
        h[2].value = "1714521605000";
        CHECK(ch_usage_parse(&r, NOW, &u) == 1 && u.pause_ms == 5000);
        /* ... or delta seconds. */
        h[2].value = "42";
        CHECK(ch_usage_parse(&r, NOW, &u) == 1 && u.pause_ms == 42000);
        /* IETF draft list syntax: the first number. */
        h[0].value = "10, 10;w=60";
        h[1].value = "5";
        CHECK(ch_usage_parse(&r, NOW, &u) == 1 && u.usage_pct == 50);
        /* More remaining than the limit: 0 %, not an underflow. */
        h[0].value = "10";
        h[1].value = "50";
        CHECK(ch_usage_parse(&r, NOW, &u) == 1 && u.usage_pct == 0);
        /* A zero limit is no signal (division by zero otherwise). */
        h[0].value = "0";
        CHECK(ch_usage_parse(&r, NOW, &u) == 0);
    }

    /* Several signals: the highest usage and the longest wait win. */
    {
        c360_header h[] = {{"content-type", "application/json"},
                           {"x-app-usage", "{\"call_count\":40,\"total_cputime\":10,\"total_time\":10}"},
                           {"x-business-use-case-usage",
                            "{\"9\":[{\"type\":\"pages\",\"call_count\":96,\"estimated_time_to_regain_access\":2}]}"},
                           {"retry-after", "30"}};
        c360_http_response r = resp_of(400, h, 4);
        CHECK(ch_usage_parse(&r, NOW, &u) == 1 && u.usage_pct == 96 && u.pause_ms == 120000);
    }

    /* LinkedIn: a bare 429 is 100 % with no explicit wait. */
    CHECK(one(429, "content-type", "application/json", &u) == 1 && u.usage_pct == 100 && u.pause_ms == 0);
    /* A normal response says nothing. */
    CHECK(one(200, "content-type", "application/json", &u) == 0 && u.usage_pct == 0);

    /* Malformed input is ignored, never trusted and never fatal. */
    CHECK(one(200, "x-app-usage", "not json", &u) == 0);
    CHECK(one(200, "x-app-usage", "[1,2,3]", &u) == 0);
    CHECK(one(200, "x-app-usage", "{\"call_count\":\"99\"}", &u) == 0);
    CHECK(one(200, "x-app-usage", "{\"call_count\":-5}", &u) == 0);
    CHECK(one(200, "x-app-usage", "{\"call_count\":1,\"call_count\":99}", &u) == 0);
    CHECK(one(200, "x-app-usage", "{\"call_count\":1e400}", &u) == 0);
    CHECK(one(200, "x-app-usage", "{\"call_count\":1e30}", &u) == 1 && u.usage_pct == CH_USAGE_MAX_PCT);
    CHECK(one(200, "x-business-use-case-usage", "{\"1\":{\"call_count\":99}}", &u) == 0);
    CHECK(one(200, "x-business-use-case-usage", "{\"1\":[1,\"x\",null]}", &u) == 0);
    CHECK(one(200, "x-business-use-case-usage",
              "{\"1\":[{\"estimated_time_to_regain_access\":1e12}]}", &u) == 1 && u.pause_ms == CH_USAGE_MAX_PAUSE_MS);
    CHECK(one(200, "x-ad-account-usage", "{\"reset_time_duration\":5}", &u) == 0);
    CHECK(one(200, "x-ratelimit-remaining", "lots", &u) == 0);
    CHECK(one(200, "x-ratelimit-limit", "-3", &u) == 0);
    {
        /* Deep nesting and oversize values. */
        size_t n = CH_USAGE_MAX_VALUE + 100;
        char *big = malloc(n + 1);
        for (size_t i = 0; i < n; i++) big[i] = i < n / 2 ? '[' : ']';
        big[n] = '\0';
        CHECK(one(200, "x-app-usage", big, &u) == 0);
        CHECK(one(200, "x-business-use-case-usage", big, &u) == 0);
        char deep[4001];
        for (int i = 0; i < 2000; i++) { deep[i] = '['; deep[2000 + i] = ']'; }
        deep[4000] = '\0';
        CHECK(one(200, "x-business-use-case-usage", deep, &u) == 0);
        free(big);
    }
    {
        /* NULL names/values, NULL header array, short or NULL struct. */
        c360_header h[] = {{NULL, "x"}, {"x-app-usage", NULL}, {"x-app-usage", "{\"call_count\":70}"}};
        c360_http_response r = resp_of(200, h, 3);
        CHECK(ch_usage_parse(&r, NOW, &u) == 1 && u.usage_pct == 70);
        r = resp_of(200, NULL, 3);
        CHECK(ch_usage_parse(&r, NOW, &u) == 0);
        r = resp_of(429, h, 3);
        r.struct_size = 8;
        CHECK(ch_usage_parse(&r, NOW, &u) == 0);
        CHECK(ch_usage_parse(NULL, NOW, &u) == 0);
    }

    CHECK_DONE();
}
