/* c360ctl -- the command-line client of c360d's admin API.
 *
 *   c360ctl [global options] COMMAND [SUBCOMMAND] [options] [arguments]
 *
 * Help comes from the command tables (ctl_cmds_*.c), so it cannot drift
 * from what is parsed. Exit codes: 0 ok, 1 API error, 2 usage, 3 network
 * or TLS, 4 local (docs/c360ctl.md). */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl.h"

const ctl_cmd *const ctl_all_cmds[] = {
    ctl_cmds_meta,  ctl_cmds_tenants, ctl_cmds_keys,  ctl_cmds_conns,
    ctl_cmds_secrets, ctl_cmds_routes, ctl_cmds_logs, ctl_cmds_dlq,
    ctl_cmds_audit, ctl_cmds_notify,  ctl_cmds_dsr,   NULL,
};

/* One line per group, in this order, for --help. */
static const struct {
    const char *group, *what;
} groups[] = {
    {"me", "who the key is: id, role, tenant"},
    {"tenants", "tenants (operator)"},
    {"plugins", "loaded plugins; plugins enabled per tenant"},
    {"keys", "API keys"},
    {"conns", "connections: create from a JSON file, validate, pause, sync, delete"},
    {"secrets", "a connection's secrets (write-only; values from stdin or a file)"},
    {"routes", "record routes from a source connection to destinations"},
    {"status", "a connection's state, last tick, errors, token expiry"},
    {"logs", "a connection's sync log and delivery attempts"},
    {"oauth", "connect a connection to its provider with OAuth"},
    {"dlq", "dead letters: list, replay, discard"},
    {"replay", "replay a tenant's raw events of a time range"},
    {"audit", "audit log: query and verify the hash chain"},
    {"notify", "a tenant's notification endpoint"},
    {"dsr", "data-subject requests: export or erase a person's data"},
    {NULL, NULL},
};

static const char global_help[] =
    "Global options (anywhere on the line):\n"
    "  --url URL          the API (env C360_URL; default " CTL_DEFAULT_URL ")\n"
    "  --key-file PATH    file holding the API key (env C360_KEY_FILE, or the key\n"
    "                     itself in C360_KEY). Never the key on the command line.\n"
    "  --config PATH      config file (env C360_CONFIG; default\n"
    "                     ~/.config/c360/ctl.json: {\"url\":..,\"key_file\":..})\n"
    "  --cacert PATH      CA certificates to check an https URL with (env C360_CACERT)\n"
    "  --timeout SECONDS  per request (env C360_TIMEOUT; default 30)\n"
    "  --json             print the API's JSON instead of tables\n"
    "  --verbose          print each request, its status and request id on stderr\n"
    "  --help, --version\n"
    "A flag beats the environment, which beats the config file.\n"
    "\n"
    "Exit codes: 0 ok; 1 the API answered an error (4xx/5xx); 2 usage error;\n"
    "3 network or TLS error; 4 local error (file unreadable, bad config file).\n";

static void subcommands(const char *group, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t t = 0; ctl_all_cmds[t]; t++)
        for (const ctl_cmd *c = ctl_all_cmds[t]; c->group; c++)
            if (strcmp(c->group, group) == 0 && c->name) {
                size_t n = strlen(buf);
                snprintf(buf + n, cap - n, "%s%s", n ? "|" : "", c->name);
            }
}

static int group_known(const char *group)
{
    for (size_t i = 0; groups[i].group; i++)
        if (strcmp(groups[i].group, group) == 0) return 1;
    return 0;
}

static void main_help(FILE *f)
{
    fputs("usage: c360ctl [global options] COMMAND [SUBCOMMAND] [options] [arguments]\n"
          "\n"
          "The command-line client of c360d's admin API.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; groups[i].group; i++) {
        char subs[256];
        subcommands(groups[i].group, subs, sizeof subs);
        fprintf(f, "  %-8s %s\n", groups[i].group, groups[i].what);
        if (subs[0]) fprintf(f, "           %s\n", subs);
    }
    fputs("\n'c360ctl COMMAND --help' shows a command's options.\n\n", f);
    fputs(global_help, f);
}

static void group_help(FILE *f, const char *group)
{
    fprintf(f, "c360ctl %s:\n\n", group);
    for (size_t t = 0; ctl_all_cmds[t]; t++)
        for (const ctl_cmd *c = ctl_all_cmds[t]; c->group; c++) {
            if (strcmp(c->group, group) != 0) continue;
            size_t first = strcspn(c->help, "\n");
            fprintf(f, "  c360ctl %s\n      %.*s\n", c->usage, (int)first, c->help);
        }
    fprintf(f, "\n'c360ctl %s SUBCOMMAND --help' for details; 'c360ctl --help' for the "
               "global options.\n", group);
}

static void cmd_help(FILE *f, const ctl_cmd *c)
{
    fprintf(f, "usage: c360ctl %s\n\n%s", c->usage, c->help);
    if (ctl_opts_has(c->opts, "limit", NULL) && ctl_opts_has(c->opts, "cursor", NULL))
        fputs("\nLists come a page at a time: --limit N items per page, --cursor C for the\n"
              "page after C (printed when there are more), --all for every page.\n",
              f);
    fputs("\nGlobal options: --url, --key-file, --config, --cacert, --timeout, --json,\n"
          "--verbose (c360ctl --help).\n",
          f);
}

int main(int argc, char **argv)
{
    ctl_args a;
    char err[512];
    int rc = ctl_args_parse(argc, argv, ctl_all_cmds, &a, err, sizeof err);
    if (rc != CTL_OK) {
        fprintf(stderr, "c360ctl: %s\n", err);
        if (a.cmd) {
            fprintf(stderr, "usage: c360ctl %s\n(c360ctl %s%s%s --help for more)\n",
                    a.cmd->usage, a.cmd->group, a.cmd->name ? " " : "",
                    a.cmd->name ? a.cmd->name : "");
        } else if (a.group && group_known(a.group)) {
            group_help(stderr, a.group);
        } else {
            fputs("(c360ctl --help lists the commands)\n", stderr);
        }
        return rc;
    }
    if (a.help) {
        if (a.cmd) cmd_help(stdout, a.cmd);
        else if (a.group) group_help(stdout, a.group);
        else main_help(stdout);
        return CTL_OK;
    }
    if (a.version) {
        printf("c360ctl %s\n", C360_VERSION);
        return CTL_OK;
    }

    ctl_ctx c;
    memset(&c, 0, sizeof c);
    c.args = &a;
    c.json = ctl_flag(&a, "json");
    c.verbose = ctl_flag(&a, "verbose");
    rc = ctl_conf_resolve(&a, &c.conf, err, sizeof err);
    if (rc != CTL_OK) {
        fprintf(stderr, "c360ctl: %s\n", err);
        return rc;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("c360ctl: cannot initialise libcurl\n", stderr);
        return CTL_LOCAL;
    }
    rc = a.cmd->run(&c, &a);
    ctl_http_cleanup(&c);
    curl_global_cleanup();
    if (fflush(stdout) != 0 && rc == CTL_OK) rc = CTL_LOCAL;
    return rc;
}
