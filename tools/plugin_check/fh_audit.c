/* fh_audit.c -- host->audit: the field checks of host/services/audit.h
 * (ch_audit_field_valid itself: 1..200 bytes of printable ASCII, no '@'),
 * and a trace entry instead of a hash-chained Redis log. The checks matter
 * more than the storage: an entry the host refuses is an audit record that
 * silently never exists. */
#include <stdio.h>

#include "audit.h"
#include "fh_internal.h"

static int32_t fh_audit_locked(json_t *e, c360_call *call, const char *action,
                               const char *target, const char *outcome)
{
    int32_t st = fh_gate_locked(e, "audit", call);
    if (st != C360_OK)
        return st;
    const char *bad = !ch_audit_field_valid(action, 0) ? "action"
                      : !ch_audit_field_valid(target, 0) ? "target"
                      : !ch_audit_field_valid(outcome, 0) ? "outcome"
                      : NULL;
    if (bad != NULL) {
        char why[160];
        snprintf(why, sizeof(why), "%s must be 1..%d bytes of printable "
                 "ASCII without '@' (ids only, no personal data)", bad,
                 CH_AUDIT_FIELD_MAX);
        return fh_invalid_locked(e, "audit", why);
    }
    fh_detail(e, "recorded (actor plugin, connection %s)",
              fh_call_connection(call));
    return fh_status(e, C360_OK);
}

int32_t fh_audit(c360_call *call, const char *action, const char *target,
                 const char *outcome)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("audit");
    fh_named_str(e, "action", action);
    fh_named_str(e, "target", target);
    fh_named_str(e, "outcome", outcome);
    int32_t st = fh_audit_locked(e, call, action, target, outcome);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}
