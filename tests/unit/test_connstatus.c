/* test_connstatus -- the connection status record (connstatus.h) against a
 * real redis-server: set/get, since_ms only moving on a state change,
 * conditional transitions, bounds on input, delete. */
#include <string.h>

#include "call.h"
#include "check.h"
#include "connstatus.h"
#include "rconn.h"
#include "redis_fixture.h"

int main(void)
{
    fx_rconn_start(2000);

    ch_connstatus s;
    CHECK(ch_connstatus_get("t1", "c1", &s) == C360_ENOTFOUND);

    int64_t t0 = ch_now_ms();
    CHECK(ch_connstatus_set("t1", "c1", CH_CONN_NEEDS_REAUTH, "invalid_grant") == C360_OK);
    CHECK(ch_connstatus_get("t1", "c1", &s) == C360_OK);
    CHECK_STR(s.state, "needs_reauth");
    CHECK_STR(s.cause, "invalid_grant");
    CHECK(s.since_ms >= t0 && s.since_ms <= ch_now_ms());

    /* Same state again: new cause, same since_ms. */
    int64_t since = s.since_ms;
    fx_sleep_ms(20);
    CHECK(ch_connstatus_set("t1", "c1", CH_CONN_NEEDS_REAUTH, "token rejected") == C360_OK);
    CHECK(ch_connstatus_get("t1", "c1", &s) == C360_OK);
    CHECK_STR(s.cause, "token rejected");
    CHECK(s.since_ms == since);

    /* Transition only from the named state; absent counts as active. */
    int changed = -1;
    CHECK(ch_connstatus_transition("t1", "c1", "paused", "active", "x", &changed) == C360_OK);
    CHECK(changed == 0);
    CHECK(ch_connstatus_get("t1", "c1", &s) == C360_OK);
    CHECK_STR(s.state, "needs_reauth");
    CHECK(ch_connstatus_transition("t1", "c1", CH_CONN_NEEDS_REAUTH, CH_CONN_ACTIVE,
                                   "reconnected", &changed) == C360_OK);
    CHECK(changed == 1);
    CHECK(ch_connstatus_get("t1", "c1", &s) == C360_OK);
    CHECK_STR(s.state, "active");
    CHECK(s.since_ms > since);
    CHECK(ch_connstatus_transition("t1", "c2", CH_CONN_ACTIVE, "paused", "by operator", &changed) == C360_OK);
    CHECK(changed == 1);

    /* Input bounds: ids, state alphabet, long cause truncated, control
     * characters flattened. */
    CHECK(ch_connstatus_set("t:1", "c1", "active", "") == C360_EINVAL);
    CHECK(ch_connstatus_set("t1", "c 1", "active", "") == C360_EINVAL);
    CHECK(ch_connstatus_set("t1", "c1", "Active", "") == C360_EINVAL);
    CHECK(ch_connstatus_set("t1", "c1", "", "") == C360_EINVAL);
    CHECK(ch_connstatus_set("t1", "c1", NULL, "") == C360_EINVAL);
    CHECK(ch_connstatus_set("t1", "c1", "a_very_long_state_name_over_31_chars", "") == C360_EINVAL);
    char longc[1000];
    memset(longc, 'x', sizeof longc - 1);
    longc[sizeof longc - 1] = '\0';
    longc[3] = '\n';
    CHECK(ch_connstatus_set("t1", "c1", "active", longc) == C360_OK);
    CHECK(ch_connstatus_get("t1", "c1", &s) == C360_OK);
    CHECK(strlen(s.cause) == CH_CONNSTATUS_CAUSE_MAX - 1);
    CHECK(strchr(s.cause, '\n') == NULL);
    CHECK(ch_connstatus_set("t1", "c1", "active", NULL) == C360_OK);
    CHECK(ch_connstatus_get("t1", "c1", &s) == C360_OK);
    CHECK_STR(s.cause, "");

    /* Tenant-scoped key. */
    redisReply *r = ch_rconn_command("EXISTS c360:{t:t1}:conn:c1:status");
    CHECK(r && r->integer == 1);
    freeReplyObject(r);

    CHECK(ch_connstatus_delete("t1", "c1") == C360_OK);
    CHECK(ch_connstatus_get("t1", "c1", &s) == C360_ENOTFOUND);
    CHECK(ch_connstatus_delete("t1", "c1") == C360_OK);

    /* Redis down: C360_EIO, not a crash or a false "not found". */
    fx_redis_kill();
    CHECK(ch_connstatus_get("t1", "c2", &s) == C360_EIO);
    CHECK(ch_connstatus_set("t1", "c2", "active", "") == C360_EIO);
    ch_rconn_shutdown();
    CHECK_DONE();
}
