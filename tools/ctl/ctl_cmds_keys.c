/* ctl_cmds_keys.c -- c360ctl keys list|create|revoke [--tenant T].
 *
 * Without --tenant these are the operator keys (/v1/keys); with it, the
 * tenant's keys (/v1/tenants/T/keys, for operators and the tenant's
 * admins). A new key's text is in the create answer only: it is printed
 * once, or written to a new mode-0600 file with --out-file so it never
 * passes through the terminal or a pipe. */
#include <string.h>

#include "ctl.h"

static const ctl_col cols[] = {
    {"id", "id"},
    {"name", "name"},
    {"role", "role"},
    {"tenant", "tenant"},
    {"created", "created_ms"},
    {"created_by", "created_by"},
    {"last_used", "last_used_ms"},
    {"revoked", "revoked_ms"},
    {NULL, NULL},
};

static void keys_path(ctl_str *p, const char *tenant)
{
    if (tenant) {
        ctl_path_tenant(p, tenant);
        ctl_str_add(p, "/keys");
    } else {
        ctl_str_add(p, "/v1/keys");
    }
}

static int list(ctl_ctx *c, const ctl_args *a)
{
    ctl_str p = {0};
    keys_path(&p, ctl_opt(a, "tenant"));
    int rc = ctl_list(c, &p, cols, "keys");
    ctl_str_free(&p);
    return rc;
}

/* The member holding the key text ("c360k_..."), whatever its name. */
static const char *key_member(json_t *r)
{
    const char *k;
    json_t *v;
    json_object_foreach(r, k, v) {
        const char *s = json_string_value(v);
        if (s && strncmp(s, "c360k_", 6) == 0) return k;
    }
    return NULL;
}

static int create(ctl_ctx *c, const ctl_args *a)
{
    const char *name = ctl_need(a, "name");
    if (!name) return CTL_USAGE;
    const char *role = ctl_need(a, "role");
    if (!role) return CTL_USAGE;
    const char *tenant = ctl_opt(a, "tenant"), *out = ctl_opt(a, "out-file");
    if (strcmp(role, "operator") != 0 && strcmp(role, "tenant_admin") != 0 &&
        strcmp(role, "tenant_viewer") != 0)
        return ctl_usage_err(a, "--role must be operator, tenant_admin or tenant_viewer");
    if (strcmp(role, "operator") == 0 && tenant)
        return ctl_usage_err(a, "an operator key belongs to no tenant: leave out --tenant");
    if (strcmp(role, "operator") != 0 && !tenant)
        return ctl_usage_err(a, "a %s key needs --tenant", role);

    json_t *body = json_pack("{s:s,s:s}", "name", name, "role", role);
    ctl_str p = {0};
    keys_path(&p, tenant);
    json_t *r;
    int rc = ctl_call(c, "POST", p.s, body, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    json_decref(body);
    if (rc != CTL_OK) return rc;

    const char *member = key_member(r);
    if (!member) {
        fputs("c360ctl: the answer holds no key text (\"c360k_...\")\n", stderr);
        ctl_print_object(c, r);
        json_decref(r);
        return CTL_API;
    }
    char *text = strdup(json_string_value(json_object_get(r, member)));
    if (out) {
        /* The key goes to the file only; the rest is printed. */
        rc = ctl_write_private(out, text);
        json_object_del(r, member);
        if (rc == CTL_OK) {
            ctl_print_object(c, r);
            if (!c->json) fprintf(stderr, "the key is in %s (mode 0600)\n", out);
        } else {
            fputs("c360ctl: the key was created but could not be saved: revoke it\n", stderr);
        }
    } else if (c->json) {
        ctl_print_json(c, r);
        fputs("c360ctl: store the key now: it is shown only once (c360d keeps only a hash)\n",
              stderr);
    } else {
        json_object_del(r, member);
        ctl_object_print(stdout, r);
        printf("key: %s\n", text);
        fputs("Store this key now: it is shown only once, and c360d keeps only a hash of it.\n",
              stderr);
    }
    ctl_wipe(text, strlen(text));
    free(text);
    json_decref(r);
    return rc;
}

static int revoke(ctl_ctx *c, const ctl_args *a)
{
    ctl_str p = {0};
    keys_path(&p, ctl_opt(a, "tenant"));
    ctl_str_seg(&p, a->pos[0]);
    json_t *r;
    int rc = ctl_call(c, "DELETE", p.s, NULL, NULL, NULL, &r, NULL);
    ctl_str_free(&p);
    char done[128];
    snprintf(done, sizeof done, "key %s revoked", a->pos[0]);
    return ctl_finish(c, rc, r, done);
}

const ctl_cmd ctl_cmds_keys[] = {
    {"keys", "list", "tenant=," CTL_LIST_OPTS, 0, 0, "keys list [--tenant T]",
     "Lists API keys: the operator keys, or with --tenant the tenant's keys.\n"
     "Never shows key texts: only ids, names, roles and times.\n",
     list},
    {"keys", "create", "name=,role=,tenant=,out-file=", 0, 0,
     "keys create --name NAME --role ROLE [--tenant T] [--out-file PATH]",
     "Creates an API key; its text is shown once and cannot be recovered later.\n"
     "ROLE is operator (no --tenant), tenant_admin or tenant_viewer (with --tenant;\n"
     "a tenant admin creates keys up to its own role).\n"
     "  --out-file PATH   write the key to a new file (mode 0600) instead of stdout\n",
     create},
    {"keys", "revoke", "tenant=", 1, 1, "keys revoke KEY_ID [--tenant T]",
     "Revokes a key for good (it stays listed, for audit).\n", revoke},
    {NULL},
};
