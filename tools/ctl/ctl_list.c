/* ctl_list.c -- cursor-paged lists: {"items":[...],"next_cursor":...}.
 *
 * One page by default (with a hint on stderr when there are more), every
 * page with --all. The table is printed once, after the last page, so its
 * columns line up across pages. With --json, one page is the API's answer
 * as is, and --all prints {"items":[every item],"next_cursor":null}. */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define MAX_PAGES 100000  /* a server that never stops paging is a bug */

/* "items", else the answer's first array member (lists that are not
 * paged, like GET /v1/plugins: {"plugins":[...],...}), else the answer
 * itself when it is an array. */
static json_t *first_array(json_t *resp)
{
    if (json_is_array(resp)) return resp;
    json_t *its = json_object_get(resp, "items");
    if (json_is_array(its)) return its;
    const char *k;
    json_t *v;
    json_object_foreach(resp, k, v) if (json_is_array(v)) return v;
    return NULL;
}

int ctl_list(ctl_ctx *c, const ctl_str *path, const ctl_col *cols, const char *what)
{
    const ctl_args *a = c->args;
    long long limit;
    int rc = ctl_opt_int(a, "limit", 1, 1000, 0, &limit);
    if (rc != CTL_OK) return rc;
    int all = ctl_flag(a, "all");
    const char *cursor = ctl_opt(a, "cursor");
    char *cur = cursor ? strdup(cursor) : NULL;

    json_t *items = json_array(), *last = NULL;
    for (size_t page = 0; rc == CTL_OK; page++) {
        ctl_str pq = {0};
        ctl_str_add(&pq, path->s);
        if (limit) {
            char n[24];
            snprintf(n, sizeof n, "%lld", limit);
            ctl_str_query(&pq, "limit", n);
        }
        ctl_str_query(&pq, "cursor", cur && *cur ? cur : NULL);
        json_t *resp = NULL;
        rc = ctl_call(c, "GET", pq.s, NULL, NULL, NULL, &resp, NULL);
        ctl_str_free(&pq);
        if (rc != CTL_OK) break;
        json_t *its = first_array(resp);
        if (!its) {
            fprintf(stderr, "c360ctl: the answer has no \"items\" list\n  request id: %s\n",
                    c->last_rid);
            json_decref(resp);
            rc = CTL_API;
            break;
        }
        json_array_extend(items, its);
        json_decref(last);
        last = resp;
        const char *next = json_string_value(json_object_get(resp, "next_cursor"));
        if (!all || !next || !*next) break;
        if (cur && strcmp(cur, next) == 0) {
            fprintf(stderr, "c360ctl: the server returned the same cursor twice; stopping\n");
            rc = CTL_API;
            break;
        }
        if (page + 1 == MAX_PAGES) {
            fprintf(stderr, "c360ctl: more than %d pages; stopping\n", MAX_PAGES);
            rc = CTL_API;
            break;
        }
        free(cur);
        cur = strdup(next);
    }
    free(cur);

    if (rc == CTL_OK) {
        const char *next = all ? NULL : json_string_value(json_object_get(last, "next_cursor"));
        if (c->json && !all) {
            ctl_print_json(c, last);
        } else if (c->json) {
            json_t *doc = json_pack("{s:O,s:n}", "items", items, "next_cursor");
            ctl_print_json(c, doc);
            json_decref(doc);
        } else if (json_array_size(items) == 0) {
            fprintf(stderr, "(no %s)\n", what);
        } else {
            ctl_table_print(stdout, cols, items);
        }
        if (next && *next)
            fprintf(stderr, "more %s: add --all, or --cursor '%s' for the next page\n", what,
                    next);
    }
    json_decref(last);
    json_decref(items);
    return rc;
}
