/* status.c -- `c360-keys status`: how many secrets each master key wraps,
 * so an operator knows when an old key can be retired (count 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys_tool.h"
#include "secrets.h"
#include "util.h"

/* Distinct key ids are few (one per rotation); the table is bounded all
 * the same, and anything past it is counted together. */
#define MAX_KIDS 1024

typedef struct tally {
    char kid[MAX_KIDS][CH_KEYRING_ID_MAX + 1];
    size_t count[MAX_KIDS];
    size_t nkids;
    size_t other;      /* ids past MAX_KIDS */
    size_t total;
    size_t unreadable; /* malformed records */
    size_t failed;     /* Redis errors */
} tally;

static void add(tally *t, const char *kid)
{
    for (size_t i = 0; i < t->nkids; i++) {
        if (strcmp(t->kid[i], kid) == 0) {
            t->count[i]++;
            return;
        }
    }
    if (t->nkids == MAX_KIDS) {
        t->other++;
        return;
    }
    snprintf(t->kid[t->nkids], sizeof t->kid[0], "%s", kid);
    t->count[t->nkids++] = 1;
}

static int visit(const char *tenant, const char *conn, const char *name, void *arg)
{
    tally *t = arg;
    char kid[CH_KEYRING_ID_MAX + 1], err[256];
    int32_t rc = ch_secret_kid(tenant, conn, name, kid, sizeof kid, err, sizeof err);
    if (rc == C360_OK) {
        add(t, kid);
        t->total++;
    } else if (rc == C360_EAUTH) {
        t->unreadable++;
        fprintf(stderr, "c360-keys: secret %s/%s/%s: %s\n", tenant, conn, name, err);
    } else if (rc != C360_ENOTFOUND) { /* deleted since the SCAN: fine */
        t->failed++;
        fprintf(stderr, "c360-keys: secret %s/%s/%s: %s\n", tenant, conn, name, err);
    }
    return keys_stop || t->failed > 100;
}

static const char *in_ring(const ch_keyring *kr, const char *kid)
{
    if (!kr) return "";
    if (!ch_keyring_key(kr, kid)) return "NO: these secrets cannot be opened";
    return strcmp(kid, ch_keyring_active_id(kr)) == 0 ? "yes (active)" : "yes";
}

int keys_cmd_status(const keys_opts *o)
{
    ch_keyring *kr = NULL;
    if (o->keyring || getenv("C360_MASTER_KEY")) {
        kr = keys_load_keyring(o);
        if (!kr) return KEYS_ERROR;
    }
    int rc = keys_connect(o);
    if (rc != KEYS_OK) {
        ch_keyring_free(kr);
        return rc;
    }
    tally *t = ch_calloc(1, sizeof *t);
    /* Every key of the keyring is listed, even at 0: that is the line an
     * operator looks for before retiring it. */
    for (size_t i = 0; i < ch_keyring_count(kr); i++) {
        snprintf(t->kid[i], sizeof t->kid[0], "%s", ch_keyring_id_at(kr, i));
        t->nkids++;
    }
    char err[256];
    size_t foreign = 0;
    int32_t src = ch_secrets_foreach(NULL, NULL, o->batch, visit, t, &foreign, err, sizeof err);
    if (src != C360_OK) fprintf(stderr, "c360-keys: scan failed: %s\n", err);

    printf("%-32s %9s  %s\n", "KEY ID", "SECRETS", kr ? "IN KEYRING" : "");
    for (size_t i = 0; i < t->nkids; i++)
        printf("%-32s %9zu  %s\n", t->kid[i], t->count[i], in_ring(kr, t->kid[i]));
    if (t->other) printf("%-32s %9zu\n", "(other ids)", t->other);
    printf("total %zu secrets, %zu unreadable records, %zu Redis errors%s\n", t->total,
           t->unreadable, t->failed, keys_stop ? " (interrupted: counts are partial)" : "");
    if (foreign)
        printf("note: %zu keys match the secret pattern but are not secret keys (ignored)\n",
               foreign);
    rc = src != C360_OK || t->failed || keys_stop ? KEYS_ERROR : KEYS_OK;
    free(t);
    ch_keyring_free(kr);
    return rc;
}
