/* ctl_args.c -- the command line of c360ctl:
 *
 *   c360ctl [global options] GROUP [SUBCOMMAND] [options] [arguments]
 *
 * Global options (CTL_GLOBAL_OPTS) may appear anywhere; a command's own
 * options only after its words. "--opt value" and "--opt=value" both work,
 * and a value may start with '-' ("--since -1h"). "--" ends the options.
 * Nothing here looks at the environment or the network: main() and the
 * unit test drive it with plain arrays. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const char key_refusal[] =
    "API keys are not accepted on the command line (they would show in `ps` "
    "and in shell history): put the key in a file only you can read and give "
    "--key-file PATH, or set C360_KEY_FILE (or C360_KEY)";

int ctl_opts_has(const char *opts, const char *name, int *takes_value)
{
    size_t n = strlen(name);
    if (n == 0) return 0;
    for (const char *p = opts; p && (p = strstr(p, name)) != NULL; p += n) {
        if (p != opts && p[-1] != ',') continue;
        if (p[n] == ',' || p[n] == '\0') {
            if (takes_value) *takes_value = 0;
            return 1;
        }
        if (p[n] == '=' && (p[n + 1] == ',' || p[n + 1] == '\0')) {
            if (takes_value) *takes_value = 1;
            return 1;
        }
    }
    return 0;
}

static int is_key_option(const char *name, size_t n)
{
    static const char *const refused[] = {"key", "api-key", "apikey", "token", NULL};
    for (size_t i = 0; refused[i]; i++)
        if (strlen(refused[i]) == n && strncmp(name, refused[i], n) == 0) return 1;
    return 0;
}

/* One option at argv[*i]; advances *i past its value. */
static int take_option(int argc, char **argv, int *i, const char *cmd_opts, ctl_args *a,
                       char *err, size_t cap)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "-h") == 0) {
        a->help = 1;
        return CTL_OK;
    }
    if (strncmp(arg, "--", 2) != 0) {
        snprintf(err, cap, "unknown option '%s'", arg);
        return CTL_USAGE;
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    if (is_key_option(name, n)) {
        snprintf(err, cap, "--%.*s: %s", (int)n, name, key_refusal);
        return CTL_USAGE;
    }
    char nm[64];
    if (n == 0 || n >= sizeof nm) {
        snprintf(err, cap, "unknown option '%.80s'", arg);
        return CTL_USAGE;
    }
    memcpy(nm, name, n);
    nm[n] = '\0';
    int takes = 0;
    if (!ctl_opts_has(cmd_opts, nm, &takes) && !ctl_opts_has(CTL_GLOBAL_OPTS, nm, &takes)) {
        snprintf(err, cap, "unknown option --%s%s", nm,
                 a->cmd ? "" : " before the command");
        return CTL_USAGE;
    }
    const char *val = NULL;
    if (takes) {
        if (eq) {
            val = eq + 1;
        } else if (*i + 1 < argc) {
            val = argv[++*i];
        } else {
            snprintf(err, cap, "--%s needs a value", nm);
            return CTL_USAGE;
        }
    } else if (eq) {
        snprintf(err, cap, "--%s takes no value", nm);
        return CTL_USAGE;
    }
    if (strcmp(nm, "help") == 0) {
        a->help = 1;
        return CTL_OK;
    }
    if (a->nopts == CTL_MAX_OPTS) {
        snprintf(err, cap, "too many options");
        return CTL_USAGE;
    }
    /* The name points into argv when it is all of the argument; a
     * "--name=value" name is matched back to the spec's own spelling. */
    const char *stored = eq ? NULL : name;
    if (!stored) {
        const char *spec = ctl_opts_has(cmd_opts, nm, NULL) ? cmd_opts : CTL_GLOBAL_OPTS;
        for (const char *p = spec; (p = strstr(p, nm)) != NULL; p += n)
            if ((p == spec || p[-1] == ',') && (p[n] == '=' || p[n] == ',' || !p[n])) {
                stored = p;
                break;
            }
    }
    a->oname[a->nopts] = stored;
    a->oval[a->nopts] = takes ? val : "";
    a->nopts++;
    return CTL_OK;
}

static int is_option(const char *s)
{
    /* "-" is stdin, "-5" a number: both are words. */
    return s[0] == '-' && s[1] != '\0' && !(s[1] >= '0' && s[1] <= '9');
}

static const ctl_cmd *find(const ctl_cmd *const *tables, const char *group, const char *name,
                           int *group_known)
{
    *group_known = 0;
    for (size_t t = 0; tables[t]; t++) {
        for (const ctl_cmd *c = tables[t]; c->group; c++) {
            if (strcmp(c->group, group) != 0) continue;
            *group_known = 1;
            if (!c->name || (name && strcmp(c->name, name) == 0)) return c;
        }
    }
    return NULL;
}

static int grouped(const ctl_cmd *const *tables, const char *group)
{
    for (size_t t = 0; tables[t]; t++)
        for (const ctl_cmd *c = tables[t]; c->group; c++)
            if (strcmp(c->group, group) == 0 && c->name) return 1;
    return 0;
}

int ctl_args_parse(int argc, char **argv, const ctl_cmd *const *tables, ctl_args *a,
                   char *err, size_t cap)
{
    memset(a, 0, sizeof *a);
    err[0] = '\0';
    int i = 1, rc;
    const char *words[2] = {NULL, NULL};
    size_t nwords = 0;

    /* Command words, with global options around them. */
    for (; i < argc && !a->cmd; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (is_option(argv[i])) {
            if (strcmp(argv[i], "--version") == 0) {
                a->version = 1;
                continue;
            }
            if ((rc = take_option(argc, argv, &i, "", a, err, cap)) != CTL_OK) return rc;
            continue;
        }
        if (nwords == 0 && strcmp(argv[i], "help") == 0 && !a->help) {
            a->help = 1;
            continue;
        }
        if (nwords == 0 && strcmp(argv[i], "version") == 0) {
            a->version = 1;
            continue;
        }
        words[nwords++] = argv[i];
        int known;
        if (nwords == 1) {
            a->group = words[0];
            const ctl_cmd *c = find(tables, words[0], NULL, &known);
            if (!known) {
                snprintf(err, cap, "unknown command '%s'", words[0]);
                return CTL_USAGE;
            }
            if (!grouped(tables, words[0])) a->cmd = c;
        } else {
            a->cmd = find(tables, words[0], words[1], &known);
            if (!a->cmd) {
                snprintf(err, cap, "unknown command '%s %s'", words[0], words[1]);
                return CTL_USAGE;
            }
        }
    }
    if (!a->cmd) {
        if (a->help || a->version) return CTL_OK;
        if (a->group) snprintf(err, cap, "'%s' needs a subcommand", a->group);
        else snprintf(err, cap, "no command given");
        return CTL_USAGE;
    }

    /* The command's options and arguments. */
    int only_pos = 0;
    for (; i < argc; i++) {
        if (!only_pos && strcmp(argv[i], "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && is_option(argv[i])) {
            if ((rc = take_option(argc, argv, &i, a->cmd->opts, a, err, cap)) != CTL_OK)
                return rc;
            continue;
        }
        if (a->npos == CTL_MAX_POS) {
            snprintf(err, cap, "too many arguments");
            return CTL_USAGE;
        }
        a->pos[a->npos++] = argv[i];
    }
    if (a->help) return CTL_OK;
    if ((int)a->npos < a->cmd->min_pos) {
        snprintf(err, cap, "missing argument");
        return CTL_USAGE;
    }
    if ((int)a->npos > a->cmd->max_pos) {
        snprintf(err, cap, "unexpected argument '%s'", a->pos[a->cmd->max_pos]);
        return CTL_USAGE;
    }
    return CTL_OK;
}

static int name_is(const char *stored, const char *name)
{
    size_t n = strlen(name);
    return strncmp(stored, name, n) == 0 &&
           (stored[n] == '\0' || stored[n] == '=' || stored[n] == ',');
}

const char *ctl_opt(const ctl_args *a, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < a->nopts; i++)
        if (name_is(a->oname[i], name)) v = a->oval[i];
    return v;
}

int ctl_flag(const ctl_args *a, const char *name)
{
    return ctl_opt(a, name) != NULL;
}
