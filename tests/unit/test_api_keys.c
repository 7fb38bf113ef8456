/* test_api_keys.c -- API keys through the full dispatcher (af_req):
 * operators under /v1/keys (operator keys, and tenant keys by naming the
 * tenant), tenant admins under /v1/tenants/{tenant}/keys up to their own
 * role; the key text shown once and never again (lists, audit entries);
 * revocation (another tenant's key is a 404; the last operator key stays);
 * malformed JSON, wrong types, unknown fields, huge bodies and bad ids. */
#include "api_test_util.h"
#include "check.h"
#include "tenants.h"

/* A new key's answer: 201, the text, no hash. Copies text and id out. */
static void created(json_t *j, char *text, char *id)
{
    const char *k = at_str(j, "key");
    CHECK(k && strncmp(k, "c360k_", 6) == 0);
    snprintf(text, CH_APIKEY_TEXT_MAX, "%s", k ? k : "");
    snprintf(id, CH_ID_MAX + 1, "%s", at_str(j, "id") ? at_str(j, "id") : "");
    CHECK(!json_object_get(j, "hash"));
    CHECK(json_is_null(json_object_get(j, "revoked_ms")));
}

/* The secret part of "c360k_<16 hex id>_<secret>". Not what follows the
 * last '_': the base64url secret may hold '_' itself, and a few letters
 * after one of them would turn up anywhere. */
static const char *secret_part(const char *text) { return text + sizeof "c360k_" - 1 + 16 + 1; }

/* No list, no audit entry, no stored record holds the text or the hash. */
static void never_shown(const char *text, json_t *list)
{
    char *d = json_dumps(list, JSON_COMPACT);
    CHECK(!strstr(d, text));
    CHECK(!strstr(d, "\"hash\""));
    CHECK(!strstr(d, "\"key\""));
    /* the secret part alone */
    CHECK(!strstr(d, secret_part(text)));
    free(d);
}

static int chain_mentions(const char *tenant, const char *needle)
{
    json_t *entries = at_audit_entries(tenant, NULL, 1000);
    if (!entries) return -1;
    char *d = json_dumps(entries, JSON_COMPACT);
    int found = strstr(d, needle) != NULL;
    free(d);
    json_decref(entries);
    return found;
}

static void test_operator_keys(af_env *e)
{
    json_t *j =
        REQ(e->op_key, "POST", "/v1/keys", "{\"name\":\"ops 2\",\"role\":\"operator\"}", 201);
    char text[CH_APIKEY_TEXT_MAX], id[CH_ID_MAX + 1];
    created(j, text, id);
    CHECK_STR(at_str(j, "role"), "operator");
    CHECK(json_is_null(json_object_get(j, "tenant")));
    CHECK_STR(at_str(j, "name"), "ops 2");
    json_decref(j);
    /* it works */
    j = REQ(text, "GET", "/v1/me", NULL, 200);
    CHECK_STR(at_str(j, "key_id"), id);
    json_decref(j);
    /* listed without secrets */
    j = REQ(e->op_key, "GET", "/v1/keys", NULL, 200);
    CHECK(json_array_size(json_object_get(j, "items")) == 2);
    never_shown(text, j);
    json_decref(j);
    CHECK(chain_mentions("_system", id) == 1);
    CHECK(chain_mentions("_system", secret_part(text)) == 0);

    /* a tenant key made by an operator */
    af_tenant(e, "kt1");
    j = REQ(e->op_key, "POST", "/v1/keys",
            "{\"name\":\"kt1 admin\",\"role\":\"tenant_admin\",\"tenant\":\"kt1\"}", 201);
    char ttext[CH_APIKEY_TEXT_MAX], tid[CH_ID_MAX + 1];
    created(j, ttext, tid);
    CHECK_STR(at_str(j, "tenant"), "kt1");
    json_decref(j);
    CHECK(chain_mentions("kt1", tid) == 1);
    j = REQ(ttext, "GET", "/v1/tenants/kt1/keys", NULL, 200);
    CHECK(json_array_size(json_object_get(j, "items")) == 1);
    never_shown(ttext, j);
    json_decref(j);
    /* not in the operator list */
    j = REQ(e->op_key, "GET", "/v1/keys", NULL, 200);
    CHECK(json_array_size(json_object_get(j, "items")) == 2);
    json_decref(j);

    /* refusals */
    WANT(e->op_key, "POST", "/v1/keys",
         "{\"name\":\"x\",\"role\":\"tenant_viewer\",\"tenant\":\"nope\"}", 404, "tenant_not_found");
    WANT_422(e->op_key, "POST", "/v1/keys", "{\"name\":\"x\",\"role\":\"boss\"}", "/role");
    WANT_422(e->op_key, "POST", "/v1/keys",
             "{\"name\":\"x\",\"role\":\"operator\",\"tenant\":\"kt1\"}", "/tenant");
    WANT_422(e->op_key, "POST", "/v1/keys", "{\"name\":\"x\",\"role\":\"tenant_admin\"}",
             "/tenant");
    WANT_422(e->op_key, "POST", "/v1/keys",
             "{\"name\":\"x\",\"role\":\"tenant_admin\",\"tenant\":\"a b\"}", "/tenant");
    WANT_422(e->op_key, "POST", "/v1/keys", "{\"name\":\"\",\"role\":\"operator\"}", "/name");
    WANT_422(e->op_key, "POST", "/v1/keys", "{\"name\":\"a\\u0001\",\"role\":\"operator\"}",
             "/name");
    WANT_422(e->op_key, "POST", "/v1/keys", "{\"role\":\"operator\"}", "/name");
    WANT_422(e->op_key, "POST", "/v1/keys", "{\"name\":\"x\"}", "/role");
    WANT_422(e->op_key, "POST", "/v1/keys", "{\"name\":1,\"role\":\"operator\"}", "/name");
    WANT_422(e->op_key, "POST", "/v1/keys", "{\"name\":\"x\",\"role\":[\"operator\"]}", "/role");
    WANT_422(e->op_key, "POST", "/v1/keys",
             "{\"name\":\"x\",\"role\":\"operator\",\"secret\":\"s\"}", "/secret");
    DO(e->op_key, "POST", "/v1/keys", "{\"name\":\"x\",", 400);
    DO(e->op_key, "POST", "/v1/keys", "\"operator\"", 400);
    size_t big = 1 << 20;
    char *body = malloc(big + 64);
    int n = snprintf(body, big + 64, "{\"role\":\"operator\",\"name\":\"");
    memset(body + n, 'n', big);
    strcpy(body + n + big, "\"}");
    j = REQ(e->op_key, "POST", "/v1/keys", body, 422);
    CHECK_STR(at_detail_path(j, 0), "/name");
    char *d = json_dumps(j, JSON_COMPACT);
    CHECK(strlen(d) < 1000);
    free(d);
    json_decref(j);
    free(body);
    DO(ttext, "POST", "/v1/keys", "{\"name\":\"x\",\"role\":\"operator\"}", 403);
    DO(ttext, "GET", "/v1/keys", NULL, 403);
    DO(ttext, "DELETE", "/v1/keys/0123456789abcdef", NULL, 403);
    j = REQ(e->op_key, "GET", "/v1/keys", NULL, 200);
    CHECK(json_array_size(json_object_get(j, "items")) == 2); /* nothing more was made */
    json_decref(j);

    /* revoke: a tenant key, then operator keys down to the last one */
    WANT(e->op_key, "DELETE", "/v1/keys/0123456789abcdef", NULL, 404, "not_found");
    DO(e->op_key, "DELETE", "/v1/keys/bad.id", NULL, 400);
    char path[128];
    snprintf(path, sizeof path, "/v1/keys/%s", tid);
    j = REQ(e->op_key, "DELETE", path, NULL, 200);
    CHECK(json_integer_value(json_object_get(j, "revoked_ms")) > 0);
    json_decref(j);
    CHECK(chain_mentions("kt1", "apikey.revoke") == 1);
    DO(ttext, "GET", "/v1/tenants/kt1/keys", NULL, 401);
    DO(e->op_key, "DELETE", path, NULL, 200); /* again: still revoked, no error */
    snprintf(path, sizeof path, "/v1/keys/%s", id);
    DO(text, "DELETE", path, NULL, 200); /* a key may revoke itself while others remain */
    DO(text, "GET", "/v1/me", NULL, 401);
    j = REQ(e->op_key, "GET", "/v1/me", NULL, 200);
    char me[CH_ID_MAX + 1];
    snprintf(me, sizeof me, "%s", at_str(j, "key_id"));
    json_decref(j);
    snprintf(path, sizeof path, "/v1/keys/%s", me);
    WANT(e->op_key, "DELETE", path, NULL, 409, "last_operator_key");
    DO(e->op_key, "GET", "/v1/me", NULL, 200);
}

static void test_paging(af_env *e)
{
    for (int i = 0; i < 5; i++)
        DO(e->op_key, "POST", "/v1/keys", "{\"name\":\"p\",\"role\":\"operator\"}", 201);
    char target[160] = "/v1/keys?limit=2";
    char last[CH_ID_MAX + 1] = "";
    size_t seen = 0;
    for (int page = 0; page < 10; page++) {
        json_t *j = REQ(e->op_key, "GET", target, NULL, 200);
        json_t *items = json_object_get(j, "items");
        CHECK(json_array_size(items) <= 2);
        size_t i;
        json_t *v;
        json_array_foreach(items, i, v) {
            CHECK(strcmp(at_str(v, "id"), last) > 0); /* sorted, no repeats */
            snprintf(last, sizeof last, "%s", at_str(v, "id"));
            seen++;
        }
        json_t *nc = json_object_get(j, "next_cursor");
        int done = json_is_null(nc);
        if (!done)
            snprintf(target, sizeof target, "/v1/keys?limit=2&cursor=%s", json_string_value(nc));
        json_decref(j);
        if (done) break;
    }
    CHECK(seen == 7); /* the fixture's, the revoked one, and these five */
    DO(e->op_key, "GET", "/v1/keys?limit=100000", NULL, 400);
}

static void test_tenant_keys(af_env *e)
{
    af_tenant(e, "ka");
    af_tenant(e, "kb");
    char adm[CH_APIKEY_TEXT_MAX], view[CH_APIKEY_TEXT_MAX], badm[CH_APIKEY_TEXT_MAX];
    af_key(e, CH_ROLE_TENANT_ADMIN, "ka", adm);
    af_key(e, CH_ROLE_TENANT_VIEWER, "ka", view);
    af_key(e, CH_ROLE_TENANT_ADMIN, "kb", badm);

    json_t *j = REQ(adm, "POST", "/v1/tenants/ka/keys",
                    "{\"name\":\"ci\",\"role\":\"tenant_viewer\"}", 201);
    char text[CH_APIKEY_TEXT_MAX], id[CH_ID_MAX + 1];
    created(j, text, id);
    CHECK_STR(at_str(j, "tenant"), "ka");
    CHECK_STR(at_str(j, "role"), "tenant_viewer");
    json_decref(j);
    DO(text, "GET", "/v1/tenants/ka", NULL, 200);
    DO(text, "GET", "/v1/tenants/ka/keys", NULL, 403); /* viewers do not see keys */
    j = REQ(adm, "POST", "/v1/tenants/ka/keys", "{\"name\":\"peer\",\"role\":\"tenant_admin\"}",
            201);
    char text2[CH_APIKEY_TEXT_MAX], id2[CH_ID_MAX + 1];
    created(j, text2, id2);
    json_decref(j);
    CHECK(chain_mentions("ka", id2) == 1);
    CHECK(chain_mentions("ka", secret_part(text2)) == 0);
    /* an operator may create in any tenant through the tenant route */
    DO(e->op_key, "POST", "/v1/tenants/kb/keys", "{\"name\":\"o\",\"role\":\"tenant_admin\"}", 201);

    /* never above one's own role */
    WANT(adm, "POST", "/v1/tenants/ka/keys",
         "{\"name\":\"x\",\"role\":\"operator\"}", 403, "role_too_high");
    WANT(e->op_key, "POST", "/v1/tenants/ka/keys", "{\"name\":\"x\",\"role\":\"operator\"}",
         403, "role_too_high");
    DO(view, "POST", "/v1/tenants/ka/keys", "{\"name\":\"x\",\"role\":\"tenant_viewer\"}", 403);
    /* other tenants */
    WANT(badm, "POST", "/v1/tenants/ka/keys", "{\"name\":\"x\",\"role\":\"tenant_viewer\"}",
         403, "forbidden_tenant");
    DO(badm, "GET", "/v1/tenants/ka/keys", NULL, 403);
    DO(e->op_key, "GET", "/v1/tenants/nope/keys", NULL, 404);
    DO(e->op_key, "POST", "/v1/tenants/nope/keys", "{\"name\":\"x\",\"role\":\"tenant_viewer\"}",
       404);
    /* bodies */
    WANT_422(adm, "POST", "/v1/tenants/ka/keys", "{\"name\":\"x\",\"role\":\"root\"}", "/role");
    WANT_422(adm, "POST", "/v1/tenants/ka/keys",
             "{\"name\":\"x\",\"role\":\"tenant_viewer\",\"tenant\":\"kb\"}", "/tenant");
    WANT_422(adm, "POST", "/v1/tenants/ka/keys", "{\"name\":true,\"role\":\"tenant_viewer\"}",
             "/name");
    WANT_422(adm, "POST", "/v1/tenants/ka/keys", "{\"role\":\"tenant_viewer\"}", "/name");
    DO(adm, "POST", "/v1/tenants/ka/keys", "{{", 400);
    DO(adm, "POST", "/v1/tenants/k%20a/keys", "{\"name\":\"x\",\"role\":\"tenant_viewer\"}", 400);

    /* list: own keys only, never a secret */
    j = REQ(adm, "GET", "/v1/tenants/ka/keys", NULL, 200);
    json_t *items = json_object_get(j, "items");
    CHECK(json_array_size(items) == 4); /* adm, view, ci, peer */
    size_t i;
    json_t *v;
    json_array_foreach(items, i, v) CHECK_STR(at_str(v, "tenant"), "ka");
    never_shown(text, j);
    never_shown(text2, j);
    never_shown(adm, j);
    json_decref(j);
    j = REQ(adm, "GET", "/v1/tenants/ka/keys?limit=3", NULL, 200);
    CHECK(json_array_size(json_object_get(j, "items")) == 3);
    CHECK(json_is_string(json_object_get(j, "next_cursor")));
    json_decref(j);

    /* revoke: another tenant's key does not exist here */
    j = REQ(e->op_key, "GET", "/v1/tenants/kb/keys", NULL, 200);
    char bid[CH_ID_MAX + 1];
    snprintf(bid, sizeof bid, "%s", at_str(json_array_get(json_object_get(j, "items"), 0), "id"));
    json_decref(j);
    char path[160];
    snprintf(path, sizeof path, "/v1/tenants/ka/keys/%s", bid);
    WANT(adm, "DELETE", path, NULL, 404, "not_found");
    /* even for an operator going through ka's route */
    DO(e->op_key, "DELETE", path, NULL, 404);
    DO(badm, "GET", "/v1/tenants/kb", NULL, 200); /* still valid */
    snprintf(path, sizeof path, "/v1/tenants/ka/keys/%s", id);
    DO(view, "DELETE", path, NULL, 403);
    j = REQ(adm, "DELETE", path, NULL, 200);
    CHECK_STR(at_str(j, "id"), id);
    CHECK(json_integer_value(json_object_get(j, "revoked_ms")) > 0);
    CHECK(!json_object_get(j, "key"));
    json_decref(j);
    DO(text, "GET", "/v1/tenants/ka", NULL, 401);
    CHECK(chain_mentions("ka", "apikey.revoke") == 1);
    DO(adm, "DELETE", "/v1/tenants/ka/keys/0000000000000000", NULL, 404);
    DO(adm, "DELETE", "/v1/tenants/ka/keys/bad%2Fid", NULL, 400);
    /* an operator key is not a tenant's either */
    j = REQ(e->op_key, "GET", "/v1/me", NULL, 200);
    snprintf(path, sizeof path, "/v1/tenants/ka/keys/%s", at_str(j, "key_id"));
    json_decref(j);
    DO(adm, "DELETE", path, NULL, 404);
    DO(e->op_key, "GET", "/v1/me", NULL, 200);
}

int main(void)
{
    af_env env;
    af_start(&env, NULL);
    test_operator_keys(&env);
    test_paging(&env);
    test_tenant_keys(&env);
    af_stop(&env);
    CHECK_DONE();
}
