/* oauth_hammer.c -- many concurrent ch_oauth_token callers in one process,
 * for tests/integration/oauth_refresh.sh, which runs two of these at once
 * against one redis-server and one fake token endpoint: across both
 * processes exactly one refresh may reach the endpoint per expiry.
 *
 *   c360-oauth-hammer exchange --redis URL --token-url URL --conn C [--tenant T]
 *       stores a fresh authorisation (authorization_code "code-1")
 *   c360-oauth-hammer race --redis URL --token-url URL --conn C [--tenant T]
 *       --threads N --start-ms EPOCH_MS
 *       every thread waits for the same wall-clock start (so two processes
 *       begin together), then calls ch_oauth_token once and prints
 *       "token <value>" or "error <status> <message>"
 *
 * The master key comes from C360_MASTER_KEY (both processes must share
 * it). The client credentials are the fake's defaults (cid / csecret).
 * Exit status 0 when every call succeeded. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_api.h"
#include "keyring.h"
#include "oauth.h"
#include "rconn.h"
#include "secrets.h"
#include "util.h"

#define TOOL_PROG "c360-oauth-hammer"
#include "tool_common.h"

#define MAX_THREADS 64

static const char *g_tenant = "hammer", *g_conn, *g_url;
static int64_t g_start_ms;
static pthread_mutex_t g_out = PTHREAD_MUTEX_INITIALIZER;

static c360_oauth_params params(int32_t grant)
{
    c360_oauth_params p = {.struct_size = sizeof p, .grant = grant,
                           .auth = C360_OAUTH_AUTH_BODY, .token_url = g_url,
                           .client_id = "cid", .client_secret = "csecret"};
    return p;
}

static void *racer(void *arg)
{
    int *ok = arg;
    tool_sleep_ms(g_start_ms - tool_wall_ms());
    c360_oauth_params p = params(C360_GRANT_REFRESH_TOKEN);
    char *tok = NULL, err[256] = "";
    int32_t rc = ch_oauth_token(g_tenant, g_conn, "hammer", &p, &tok, NULL, err, sizeof err);
    pthread_mutex_lock(&g_out);
    if (rc == C360_OK) printf("token %s\n", tok);
    else printf("error %s %s\n", c360_strstatus(rc), err);
    fflush(stdout);
    pthread_mutex_unlock(&g_out);
    *ok = rc == C360_OK;
    ch_secret_value_free(tok);
    ch_rconn_thread_close();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) goto usage;
    const char *mode = argv[1], *redis = NULL;
    int threads = 10;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) goto usage;
        i++;
        if (strcmp(a, "--redis") == 0) redis = v;
        else if (strcmp(a, "--token-url") == 0) g_url = v;
        else if (strcmp(a, "--conn") == 0) g_conn = v;
        else if (strcmp(a, "--tenant") == 0) g_tenant = v;
        else if (strcmp(a, "--threads") == 0) threads = (int)tool_arg_num(a, v, 1, MAX_THREADS);
        else if (strcmp(a, "--start-ms") == 0) g_start_ms = tool_arg_num(a, v, 0, INT64_MAX);
        else goto usage;
    }
    if (!redis || !g_url || !g_conn) goto usage;

    tool_rconn(redis, 5000);
    char err[256];
    ch_keyring *kr = NULL;
    if (ch_keyring_load(NULL, NULL, 0, &kr, NULL, err, sizeof err) != CH_OK) {
        fprintf(stderr, TOOL_PROG ": %s\n", err);
        return 2;
    }
    ch_secrets_init(kr);

    int failed = 0;
    if (strcmp(mode, "exchange") == 0) {
        c360_oauth_params p = params(C360_GRANT_AUTHORIZATION_CODE);
        p.code = "code-1";
        p.redirect_uri = "https://app.example/callback";
        int32_t rc = ch_oauth_exchange(g_tenant, g_conn, "hammer", &p, err, sizeof err);
        if (rc != C360_OK) {
            fprintf(stderr, "exchange: %s: %s\n", c360_strstatus(rc), err);
            failed = 1;
        }
    } else if (strcmp(mode, "race") == 0) {
        pthread_t th[MAX_THREADS];
        int ok[MAX_THREADS] = {0};
        for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, racer, &ok[i]);
        for (int i = 0; i < threads; i++) {
            pthread_join(th[i], NULL);
            failed += !ok[i];
        }
    } else {
        goto usage;
    }
    ch_rconn_shutdown();
    ch_secrets_init(NULL);
    ch_keyring_free(kr);
    return failed ? 1 : 0;
usage:
    fprintf(stderr, "usage: c360-oauth-hammer exchange|race --redis URL --token-url URL "
                    "--conn C [--tenant T] [--threads N] [--start-ms EPOCH_MS]\n");
    return 2;
}
