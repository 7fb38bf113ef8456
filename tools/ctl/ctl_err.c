/* ctl_err.c -- how an API error looks on stderr:
 *
 *   c360ctl: error 422 invalid_config: the config is not valid for this plugin
 *     /config/greeting: must be of type string, not integer
 *     request id: ctl-2ed3879a299277839dda40cb
 *
 * The code, the message, one line per detail (JSON Pointer, then what is
 * wrong) and the request id, each made safe for a terminal. An answer
 * that is not the API's error document (a proxy's HTML page, an empty
 * 404) is shown as one short line of its text. */
#include <string.h>

#include "ctl.h"

/* One line of a non-JSON body: markup dropped, controls and runs of
 * blanks squeezed, at most 200 characters. */
static void body_excerpt(ctl_str *b, const char *body, size_t len)
{
    int in_tag = 0, blank = 1;
    size_t shown = 0;
    for (size_t i = 0; i < len && shown < 200; i++) {
        char ch = body[i];
        if (ch == '<') in_tag = 1;
        if (in_tag) {
            if (ch == '>') in_tag = 0;
            continue;
        }
        if ((unsigned char)ch <= ' ' || ch == 0x7f) {
            if (!blank) ctl_str_add(b, " "), shown++;
            blank = 1;
            continue;
        }
        blank = 0;
        ctl_str_safe(b, &ch, 1);
        shown++;
    }
    while (b->len && b->s[b->len - 1] == ' ') b->s[--b->len] = '\0';
}

void ctl_print_api_error(FILE *f, long status, const char *body, size_t len, const char *rid)
{
    json_error_t je;
    json_t *doc = body && len ? json_loadb(body, len, 0, &je) : NULL;
    json_t *e = json_object_get(doc, "error");
    ctl_str b = {0};
    if (json_is_object(e)) {
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        const char *srid = json_string_value(json_object_get(e, "request_id"));
        ctl_str_addf(&b, "c360ctl: error %ld ", status);
        ctl_str_safe(&b, code ? code : "unknown", strlen(code ? code : "unknown"));
        if (msg) {
            ctl_str_add(&b, ": ");
            ctl_str_safe(&b, msg, strlen(msg));
        }
        ctl_str_add(&b, "\n");
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(e, "details"), i, d) {
            const char *path = json_string_value(json_object_get(d, "path"));
            const char *dm = json_string_value(json_object_get(d, "message"));
            ctl_str_add(&b, "  ");
            if (path) {
                ctl_str_safe(&b, *path ? path : "/", strlen(*path ? path : "/"));
                ctl_str_add(&b, ": ");
            }
            if (dm) ctl_str_safe(&b, dm, strlen(dm));
            ctl_str_add(&b, "\n");
        }
        if (srid && *srid) rid = srid;
    } else {
        ctl_str_addf(&b, "c360ctl: error %ld", status);
        if (len) {
            ctl_str_add(&b, " (not a JSON error: ");
            body_excerpt(&b, body, len);
            ctl_str_add(&b, ")");
        } else {
            ctl_str_add(&b, " (empty body: is the URL the one of c360d?)");
        }
        ctl_str_add(&b, "\n");
    }
    if (rid && *rid) {
        ctl_str_add(&b, "  request id: ");
        ctl_str_safe(&b, rid, strlen(rid));
        ctl_str_add(&b, "\n");
    }
    fputs(b.s, f);
    ctl_str_free(&b);
    json_decref(doc);
}
