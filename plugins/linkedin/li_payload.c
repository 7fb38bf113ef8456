/* li_payload.c -- what a LinkedIn lead notification holds, read the same
 * way by webhook_verify / webhook_route (to route it) and by event (to
 * process it). Wire format (providers.md, LinkedIn):
 *
 *   {"type":"LEAD_ACTION","leadGenFormResponse":"urn:li:leadGenFormResponse:<id>",
 *    "leadGenForm":"urn:li:versionedLeadGenForm:(urn:li:leadGenForm:1,1)",
 *    "owner":{"sponsoredAccount":"urn:li:sponsoredAccount:123"},
 *    "associatedEntity":{...},"leadType":"SPONSORED",
 *    "leadAction":"CREATED","occurredAt":1686182358881}
 *
 * Non-sponsored leads carry owner.organization. One notification per body.
 * Dedup key: response URN + action + occurredAt. */
#include <stdio.h>
#include <string.h>

#include "li.h"

static bool id_chars(const char *s, size_t n)
{
    if (n == 0 || n > LI_ID_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '-' || ch == '_'))
            return false;
    }
    return true;
}

bool li_urn_id(const char *urn, const char *type, li_id out)
{
    char pre[64];
    out[0] = '\0';
    if (urn == NULL) return false;
    int pl = snprintf(pre, sizeof pre, "urn:li:%s:", type);
    if (pl <= 0 || (size_t)pl >= sizeof pre || strncmp(urn, pre, (size_t)pl) != 0) return false;
    const char *id = urn + pl;
    size_t n = strlen(id);
    if (!id_chars(id, n)) return false;
    memcpy(out, id, n + 1);
    return true;
}

bool li_form_urn(const char *urn, li_id form, li_id version)
{
    static const char pre[] = "urn:li:versionedLeadGenForm:(urn:li:leadGenForm:";
    form[0] = version[0] = '\0';
    if (urn == NULL) return false;
    if (strncmp(urn, pre, sizeof pre - 1) != 0) {
        /* A plain form URN, without version. */
        return li_urn_id(urn, "leadGenForm", form) && li_digits(form, 32);
    }
    const char *p = urn + sizeof pre - 1;
    size_t fl = strspn(p, "0123456789");
    if (fl == 0 || fl > 32 || p[fl] != ',') return false;
    const char *v = p + fl + 1;
    size_t vl = strspn(v, "0123456789");
    if (vl == 0 || vl > 32 || v[vl] != ')' || v[vl + 1] != '\0') return false;
    memcpy(form, p, fl);
    form[fl] = '\0';
    memcpy(version, v, vl);
    version[vl] = '\0';
    return true;
}

bool li_owner_from_json(const json_t *owner, li_owner *o)
{
    memset(o, 0, sizeof *o);
    const char *sa = li_str(owner, "sponsoredAccount");
    const char *org = li_str(owner, "organization");
    if (sa != NULL && li_urn_id(sa, "sponsoredAccount", o->id) && li_digits(o->id, 32)) {
        o->kind = LI_SPONSORED;
        return true;
    }
    if (org != NULL && li_urn_id(org, "organization", o->id) && li_digits(o->id, 32)) {
        o->kind = LI_ORGANIZATION;
        return true;
    }
    o->id[0] = '\0';
    return false;
}

static int64_t ms_of(const json_t *v)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) return (int64_t)json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1e15)
        return (int64_t)json_real_value(v);
    return -1;
}

bool li_note_parse(const json_t *root, li_note *n, const char **why)
{
    memset(n, 0, sizeof *n);
    n->occurred_ms = -1;
    if (!json_is_object(root)) {
        *why = "not a JSON object";
        return false;
    }
    const char *type = li_str(root, "type");
    if (type != NULL && strcmp(type, "LEAD_ACTION") != 0) {
        *why = "not a LEAD_ACTION notification";
        return false;
    }
    const char *action = li_str(root, "leadAction");
    if (action != NULL && strcmp(action, "CREATED") == 0)
        n->action = LI_CREATED;
    else if (action != NULL && strcmp(action, "DELETED") == 0)
        n->action = LI_DELETED;
    else {
        *why = "leadAction is neither CREATED nor DELETED";
        return false;
    }
    if (!li_urn_id(li_str(root, "leadGenFormResponse"), "leadGenFormResponse", n->response_id)) {
        *why = "no valid leadGenFormResponse URN";
        return false;
    }
    if (!li_owner_from_json(json_object_get(root, "owner"), &n->owner)) {
        *why = "no sponsoredAccount or organization owner";
        return false;
    }
    li_form_urn(li_str(root, "leadGenForm"), n->form_id, n->form_version);
    n->occurred_ms = ms_of(json_object_get(root, "occurredAt"));
    snprintf(n->dedup, sizeof n->dedup, "lead:%s:%s:%lld", n->response_id,
             n->action == LI_CREATED ? "CREATED" : "DELETED", (long long)n->occurred_ms);
    return true;
}
