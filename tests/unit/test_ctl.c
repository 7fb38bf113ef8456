/* test_ctl.c -- the parts of c360ctl without network (tools/ctl): the
 * command line, the settings (flag > environment > config file), times,
 * tables, and the encodings. The commands against a real c360d are in
 * tests/integration/ctl.sh. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ctl.h"

static int run_noop(ctl_ctx *c, const ctl_args *a)
{
    (void)c;
    (void)a;
    return 0;
}

static const ctl_cmd t_cmds[] = {
    {"tenants", "list", "limit=,cursor=,all", 0, 0, "tenants list", "Lists.\n", run_noop},
    {"tenants", "get", "", 1, 1, "tenants get T", "Gets.\n", run_noop},
    {"secrets", "put", "tenant=,conn=,from-file=", 1, 2, "secrets put NAME", "Puts.\n", run_noop},
    {"logs", "sync", "tenant=,conn=,since=,until=", 0, 0, "logs sync", "Logs.\n", run_noop},
    {"me", NULL, "", 0, 0, "me", "Me.\n", run_noop},
    {NULL},
};
static const ctl_cmd *const t_tables[] = {t_cmds, NULL};

static int parse(ctl_args *a, char *err, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, err);
    argv[argc++] = "c360ctl";
    for (char *s; (s = va_arg(ap, char *)) != NULL;) argv[argc++] = s;
    va_end(ap);
    argv[argc] = NULL;
    return ctl_args_parse(argc, argv, t_tables, a, err, 512);
}

static void test_args(void)
{
    ctl_args a;
    char err[512];

    CHECK(parse(&a, err, "tenants", "list", NULL) == CTL_OK);
    CHECK(a.cmd == &t_cmds[0] && a.npos == 0);

    /* global options before, between and after the words; both forms */
    CHECK(parse(&a, err, "--json", "tenants", "--url", "http://x:1", "get", "t1",
                "--timeout=5", NULL) == CTL_OK);
    CHECK(a.cmd == &t_cmds[1]);
    CHECK(a.npos == 1 && strcmp(a.pos[0], "t1") == 0);
    CHECK(ctl_flag(&a, "json"));
    CHECK_STR(ctl_opt(&a, "url"), "http://x:1");
    CHECK_STR(ctl_opt(&a, "timeout"), "5");
    CHECK(ctl_opt(&a, "cacert") == NULL);
    CHECK(!ctl_flag(&a, "verbose"));

    /* a value may start with '-'; the last of a repeated option wins */
    CHECK(parse(&a, err, "logs", "sync", "--since", "-1h", "--tenant", "a", "--tenant=b",
                NULL) == CTL_OK);
    CHECK_STR(ctl_opt(&a, "since"), "-1h");
    CHECK_STR(ctl_opt(&a, "tenant"), "b");

    /* group-less command */
    CHECK(parse(&a, err, "me", NULL) == CTL_OK && a.cmd == &t_cmds[4]);

    /* the key is never taken from argv, in any spelling */
    CHECK(parse(&a, err, "tenants", "list", "--key", "c360k_x", NULL) == CTL_USAGE);
    CHECK_CONTAINS(err, "shell history");
    CHECK(parse(&a, err, "--key=c360k_x", "tenants", "list", NULL) == CTL_USAGE);
    CHECK_CONTAINS(err, "--key-file");
    CHECK(strstr(err, "c360k_x") == NULL);
    CHECK(parse(&a, err, "me", "--api-key", "x", NULL) == CTL_USAGE);
    CHECK(parse(&a, err, "me", "--token=x", NULL) == CTL_USAGE);

    /* usage errors */
    CHECK(parse(&a, err, NULL) == CTL_USAGE);
    CHECK_CONTAINS(err, "no command");
    CHECK(parse(&a, err, "nope", NULL) == CTL_USAGE);
    CHECK_CONTAINS(err, "unknown command 'nope'");
    CHECK(parse(&a, err, "tenants", NULL) == CTL_USAGE);
    CHECK_CONTAINS(err, "needs a subcommand");
    CHECK(parse(&a, err, "tenants", "frob", NULL) == CTL_USAGE);
    CHECK(parse(&a, err, "tenants", "list", "--tenant", "x", NULL) == CTL_USAGE);
    CHECK_CONTAINS(err, "unknown option --tenant");
    CHECK(parse(&a, err, "tenants", "list", "--limit", NULL) == CTL_USAGE);
    CHECK_CONTAINS(err, "needs a value");
    CHECK(parse(&a, err, "tenants", "list", "--all=1", NULL) == CTL_USAGE);
    CHECK_CONTAINS(err, "takes no value");
    CHECK(parse(&a, err, "tenants", "get", NULL) == CTL_USAGE);
    CHECK_CONTAINS(err, "missing argument");
    CHECK(parse(&a, err, "tenants", "get", "a", "b", NULL) == CTL_USAGE);
    CHECK_CONTAINS(err, "unexpected argument 'b'");
    CHECK(parse(&a, err, "tenants", "list", "-x", NULL) == CTL_USAGE);
    CHECK(parse(&a, err, "--all", "tenants", "list", NULL) == CTL_USAGE); /* not global */
    CHECK(parse(&a, err, "tenants", "list", "--allx", NULL) == CTL_USAGE);
    CHECK(parse(&a, err, "tenants", "list", "--", "--json", NULL) == CTL_USAGE); /* a word */

    /* "--" ends the options: an id that looks like one */
    CHECK(parse(&a, err, "tenants", "get", "--", "--odd", NULL) == CTL_OK);
    CHECK(a.npos == 1 && strcmp(a.pos[0], "--odd") == 0);
    CHECK(parse(&a, err, "secrets", "put", "n", "-", NULL) == CTL_OK && a.npos == 2);

    /* help and version in every place */
    CHECK(parse(&a, err, "--help", NULL) == CTL_OK && a.help && !a.cmd);
    CHECK(parse(&a, err, "help", NULL) == CTL_OK && a.help && !a.cmd);
    CHECK(parse(&a, err, "help", "tenants", NULL) == CTL_OK && a.help && !a.cmd);
    CHECK_STR(a.group, "tenants");
    CHECK(parse(&a, err, "tenants", "--help", NULL) == CTL_OK && a.help && !a.cmd);
    CHECK(parse(&a, err, "tenants", "get", "-h", NULL) == CTL_OK && a.help &&
          a.cmd == &t_cmds[1]);
    CHECK(parse(&a, err, "help", "tenants", "get", NULL) == CTL_OK && a.cmd == &t_cmds[1]);
    CHECK(parse(&a, err, "--version", NULL) == CTL_OK && a.version);

    int takes;
    CHECK(ctl_opts_has("tenant=,all", "tenant", &takes) && takes == 1);
    CHECK(ctl_opts_has("tenant=,all", "all", &takes) && takes == 0);
    CHECK(!ctl_opts_has("tenant=,all", "ten", NULL));
    CHECK(!ctl_opts_has("tenant=,all", "al", NULL));
    CHECK(!ctl_opts_has("tenant=,all", "", NULL));
    CHECK(!ctl_opts_has("xtenant=", "tenant", NULL));
}

static char tdir[256];

static void write_file(const char *name, const char *text, mode_t mode)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tdir, name);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
    chmod(p, mode);
}

static void clear_env(void)
{
    static const char *const vars[] = {"C360_URL", "C360_KEY", "C360_KEY_FILE", "C360_CONFIG",
                                       "C360_CACERT", "C360_TIMEOUT", "XDG_CONFIG_HOME", NULL};
    for (size_t i = 0; vars[i]; i++) unsetenv(vars[i]);
}

static void test_conf(void)
{
    snprintf(tdir, sizeof tdir, "/tmp/c360-test-ctl.XXXXXX");
    CHECK(mkdtemp(tdir) != NULL);
    char p[512], home[512];
    snprintf(home, sizeof home, "%s/home", tdir);
    mkdir(home, 0700);
    snprintf(p, sizeof p, "%s/home/.config", tdir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/home/.config/c360", tdir);
    mkdir(p, 0700);
    clear_env();
    setenv("HOME", home, 1);

    ctl_args a;
    ctl_conf cf;
    char err[512], key[CTL_KEY_MAX];

    /* defaults; no config file is fine; no key is a usage error */
    CHECK(parse(&a, err, "me", NULL) == CTL_OK);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_OK);
    CHECK_STR(cf.url, "http://127.0.0.1:8360");
    CHECK(cf.timeout_ms == 30000);
    CHECK(ctl_conf_key(&cf, key, err, sizeof err) == CTL_USAGE);
    CHECK_CONTAINS(err, "--key-file");

    /* the default config file, its key_file relative to its directory */
    write_file("home/.config/c360/ctl.json",
               "{\"url\":\"https://cfg.example/\",\"key_file\":\"k.txt\",\"timeout_s\":2.5}",
               0600);
    write_file("home/.config/c360/k.txt", "c360k_fromfile_abc\n", 0600);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_OK);
    CHECK_STR(cf.url, "https://cfg.example");
    CHECK(cf.timeout_ms == 2500);
    CHECK(ctl_conf_key(&cf, key, err, sizeof err) == CTL_OK);
    CHECK_STR(key, "c360k_fromfile_abc");

    /* environment beats the file; C360_KEY beats C360_KEY_FILE */
    write_file("envkey", "c360k_envfile\r\n\n", 0600);
    snprintf(p, sizeof p, "%s/envkey", tdir);
    setenv("C360_KEY_FILE", p, 1);
    setenv("C360_URL", "http://env:1", 1);
    setenv("C360_TIMEOUT", "7", 1);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_OK);
    CHECK_STR(cf.url, "http://env:1");
    CHECK(cf.timeout_ms == 7000);
    CHECK(ctl_conf_key(&cf, key, err, sizeof err) == CTL_OK);
    CHECK_STR(key, "c360k_envfile");
    setenv("C360_KEY", "c360k_envvalue", 1);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_OK);
    CHECK(ctl_conf_key(&cf, key, err, sizeof err) == CTL_OK);
    CHECK_STR(key, "c360k_envvalue");

    /* flags beat the environment */
    write_file("flagkey", "c360k_flag", 0600);
    snprintf(p, sizeof p, "%s/flagkey", tdir);
    CHECK(parse(&a, err, "me", "--url", "http://flag:2", "--key-file", p, "--timeout", "0.5",
                NULL) == CTL_OK);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_OK);
    CHECK_STR(cf.url, "http://flag:2");
    CHECK(cf.timeout_ms == 500);
    CHECK(ctl_conf_key(&cf, key, err, sizeof err) == CTL_OK);
    CHECK_STR(key, "c360k_flag");
    clear_env();

    /* bad values: flags are usage errors, the config file a local one */
    CHECK(parse(&a, err, "me", "--url", "ftp://x", NULL) == CTL_OK);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_USAGE);
    CHECK_CONTAINS(err, "http:// or https://");
    CHECK(parse(&a, err, "me", "--url", "http://u:pw@host", NULL) == CTL_OK);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_USAGE);
    CHECK(parse(&a, err, "me", "--url", "http://host/?q", NULL) == CTL_OK);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_USAGE);
    CHECK(parse(&a, err, "me", "--timeout", "0", NULL) == CTL_OK);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_USAGE);
    CHECK(parse(&a, err, "me", "--timeout", "soon", NULL) == CTL_OK);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_USAGE);

    write_file("home/.config/c360/ctl.json", "{\"url\":\"http://x\",\"key\":\"c360k_no\"}", 0600);
    CHECK(parse(&a, err, "me", NULL) == CTL_OK);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_LOCAL);
    CHECK_CONTAINS(err, "/key: unknown member");
    CHECK(strstr(err, "c360k_no") == NULL);
    write_file("home/.config/c360/ctl.json", "{\"url\":", 0600);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_LOCAL);
    write_file("home/.config/c360/ctl.json", "{\"timeout_s\":\"5\"}", 0600);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_LOCAL);
    CHECK_CONTAINS(err, "/timeout_s");
    write_file("home/.config/c360/ctl.json", "{\"url\":\"gopher://x\"}", 0600);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_LOCAL);

    /* an explicit config file must exist; --config beats C360_CONFIG */
    snprintf(p, sizeof p, "%s/missing.json", tdir);
    CHECK(parse(&a, err, "me", "--config", p, NULL) == CTL_OK);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_LOCAL);
    write_file("other.json", "{\"url\":\"http://other:3\"}", 0600);
    setenv("C360_CONFIG", p, 1);
    snprintf(p, sizeof p, "%s/other.json", tdir);
    CHECK(parse(&a, err, "me", "--config", p, NULL) == CTL_OK);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_OK);
    CHECK_STR(cf.url, "http://other:3");
    clear_env();

    /* key files that are not keys */
    write_file("empty", "\n", 0600);
    write_file("spaces", "two words\n", 0600);
    snprintf(p, sizeof p, "%s/home/.config/c360/ctl.json", tdir);
    unlink(p);
    snprintf(p, sizeof p, "%s/empty", tdir);
    CHECK(parse(&a, err, "me", "--key-file", p, NULL) == CTL_OK);
    CHECK(ctl_conf_resolve(&a, &cf, err, sizeof err) == CTL_OK);
    CHECK(ctl_conf_key(&cf, key, err, sizeof err) == CTL_LOCAL);
    CHECK_CONTAINS(err, "empty");
    snprintf(cf.key_file, sizeof cf.key_file, "%s/spaces", tdir);
    CHECK(ctl_conf_key(&cf, key, err, sizeof err) == CTL_LOCAL);
    CHECK(strstr(err, "two words") == NULL);
    snprintf(cf.key_file, sizeof cf.key_file, "%s/nonexistent", tdir);
    CHECK(ctl_conf_key(&cf, key, err, sizeof err) == CTL_LOCAL);
    CHECK_CONTAINS(err, "No such file");
    setenv("C360_KEY", "bad key", 1);
    cf.key_env = 1;
    CHECK(ctl_conf_key(&cf, key, err, sizeof err) == CTL_USAGE);
    clear_env();

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
    CHECK(system(cmd) == 0);
}

static void test_time(void)
{
    int64_t now = 1740823200000; /* 2025-03-01T10:00:00Z */
    int64_t t;
    char buf[64];
    CHECK(ctl_time_parse("1735689600000", now, &t) == 0 && t == 1735689600000);
    CHECK(ctl_time_parse("0", now, &t) == 0 && t == 0);
    CHECK(ctl_time_parse("now", now, &t) == 0 && t == now);
    CHECK(ctl_time_parse("-1h", now, &t) == 0 && t == now - 3600000);
    CHECK(ctl_time_parse("-1h30m", now, &t) == 0 && t == now - 5400000);
    CHECK(ctl_time_parse("+2d", now, &t) == 0 && t == now + 2 * 86400000LL);
    CHECK(ctl_time_parse("-500ms", now, &t) == 0 && t == now - 500);
    CHECK(ctl_time_parse("-1w", now, &t) == 0 && t == now - 7 * 86400000LL);
    CHECK(ctl_time_parse("-10s", now, &t) == 0 && t == now - 10000);
    CHECK(ctl_time_parse("2025-03-01T10:00:00Z", now, &t) == 0 && t == now);
    CHECK(ctl_time_parse("2025-03-01t10:00:00z", now, &t) == 0 && t == now);
    CHECK(ctl_time_parse("2025-03-01 10:00:00Z", now, &t) == 0 && t == now);
    CHECK(ctl_time_parse("2025-03-01T10:00Z", now, &t) == 0 && t == now);
    CHECK(ctl_time_parse("2025-03-01T11:00:00+01:00", now, &t) == 0 && t == now);
    CHECK(ctl_time_parse("2025-03-01T09:30:00-00:30", now, &t) == 0 && t == now);
    CHECK(ctl_time_parse("2025-03-01T10:00:00.25Z", now, &t) == 0 && t == now + 250);
    CHECK(ctl_time_parse("2025-03-01T10:00:00.123456Z", now, &t) == 0 && t == now + 123);
    CHECK(ctl_time_parse("2025-03-01", now, &t) == 0 && t == now - 36000000);
    CHECK(ctl_time_parse("1970-01-01", now, &t) == 0 && t == 0);
    CHECK(ctl_time_parse("2024-02-29", now, &t) == 0 && t == 1709164800000);
    CHECK(ctl_time_parse("1969-12-31T23:59:59Z", now, &t) == 0 && t == -1000);
    static const char *const bad[] = {
        "", "-", "-1", "-1x", "1h", "yesterday", "2025-02-29", "2025-13-01", "2025-00-10",
        "2025-03-01T10:00:00", "2025-03-01T24:00:00Z", "2025-03-01T10:60:00Z",
        "2025-03-01T10:00:00.Z", "2025-03-01T10:00:00+1:00", "2025-3-1", "12345678901234567",
        "2025-03-01T10:00:00Zjunk", "-99999999999999d", NULL};
    for (size_t i = 0; bad[i]; i++) {
        int rc = ctl_time_parse(bad[i], now, &t);
        if (rc != -1) fprintf(stderr, "accepted bad time '%s'\n", bad[i]);
        CHECK(rc == -1);
    }

    ctl_time_format(now, buf, sizeof buf);
    CHECK_STR(buf, "2025-03-01T10:00:00Z");
    ctl_time_format(now + 999, buf, sizeof buf);
    CHECK_STR(buf, "2025-03-01T10:00:00Z");
    ctl_time_format(0, buf, sizeof buf);
    CHECK_STR(buf, "1970-01-01T00:00:00Z");
    ctl_time_format(-1, buf, sizeof buf);
    CHECK_STR(buf, "1969-12-31T23:59:59Z");
    ctl_time_format(1709208000000, buf, sizeof buf);
    CHECK_STR(buf, "2024-02-29T12:00:00Z");
    /* round trip over a range of days */
    for (int64_t d = -800; d < 800; d += 7) {
        int64_t ms = now + d * 86400000LL + d * 1001000;
        ctl_time_format(ms, buf, sizeof buf);
        CHECK(ctl_time_parse(buf, now, &t) == 0 && t == ms - ((ms % 1000) + 1000) % 1000);
    }
}

/* Renders with f into a string (caller frees). */
static char *render_table(const ctl_col *cols, const char *json)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    json_t *j = json_loads(json, 0, NULL);
    CHECK(j != NULL);
    if (json_is_array(j)) ctl_table_print(f, cols, j);
    else ctl_object_print(f, j);
    json_decref(j);
    fclose(f);
    return out;
}

static void test_table(void)
{
    static const ctl_col cols[] = {
        {"id", "id"}, {"name", "name"}, {"absent", "nowhere"},
        {"max", "limits.max"}, {"created", "created_ms"}, {NULL, NULL}};
    char *s = render_table(cols, "[{\"id\":\"t1\",\"name\":\"Acme\",\"limits\":{\"max\":5},"
                                 "\"created_ms\":1740823200000},"
                                 "{\"id\":\"tenant-two\",\"name\":null,\"created_ms\":0}]");
    CHECK_STR(s, "ID          NAME  MAX  CREATED\n"
                 "t1          Acme  5    2025-03-01T10:00:00Z\n"
                 "tenant-two  -     -    -\n");
    free(s);

    /* terminal controls from the server never reach the terminal */
    s = render_table(cols, "[{\"id\":\"x\\u001b]0;pwned\\u0007\",\"name\":\"a\\u009bb\\nc\"}]");
    CHECK(strchr(s, 0x1b) == NULL && strchr(s, 0x07) == NULL);
    CHECK(strstr(s, "\xc2\x9b") == NULL);
    CHECK_CONTAINS(s, "x?]0;pwned?  a?b?c");
    free(s);

    /* multi-byte text aligns by characters */
    s = render_table(cols, "[{\"id\":\"\\u00e9t\\u00e9\",\"name\":\"n\"},{\"id\":\"abcd\",\"name\":\"m\"}]");
    CHECK_STR(s, "ID    NAME\n\xc3\xa9t\xc3\xa9   n\nabcd  m\n");
    free(s);

    /* no given column present: the first item's scalar members */
    s = render_table(cols, "[{\"seq\":1,\"ok\":true,\"nested\":{\"a\":1},\"tags\":[\"a\",\"b\"]}]");
    CHECK_STR(s, "SEQ  OK    TAGS\n1    true  a,b\n");
    free(s);
    s = render_table(NULL, "[]");
    CHECK_STR(s, "");
    free(s);

    s = render_table(NULL, "{\"id\":\"t1\",\"limits\":{\"max\":5,\"ids\":[1,2]},\"updated_ms\":1740823200000,"
                           "\"hooks\":[{\"a\":1}],\"empty\":{}}");
    CHECK_STR(s, "id:         t1\n"
                 "limits:\n"
                 "  max: 5\n"
                 "  ids: 1,2\n"
                 "updated_ms: 2025-03-01T10:00:00Z\n"
                 "hooks:\n"
                 "  -\n"
                 "    a: 1\n"
                 "empty:      {}\n");
    free(s);

    /* empty values, durations are not times, zero times are "never" */
    s = render_table(NULL, "{\"cause\":\"\",\"duration_ms\":5,\"at_ms\":0,\"last_ms\":null,"
                           "\"list\":[]}");
    CHECK_STR(s, "cause:\n"
                 "duration_ms: 5\n"
                 "at_ms:       -\n"
                 "last_ms:     -\n"
                 "list:        []\n");
    free(s);
    static const ctl_col dcols[] = {{"took", "duration_ms"}, {"at", "at_ms"}, {NULL, NULL}};
    s = render_table(dcols, "[{\"duration_ms\":1795944194966,\"at_ms\":1740823200000}]");
    CHECK_STR(s, "TOOK           AT\n1795944194966  2025-03-01T10:00:00Z\n");
    free(s);

    ctl_str b = {0};
    json_t *long_obj = json_pack("{s:s}", "k", "0123456789012345678901234567890123456789"
                                               "0123456789012345678901234567890123456789");
    ctl_cell_text(&b, "x", long_obj);
    CHECK(strlen(b.s) == 80 && strcmp(b.s + 77, "...") == 0);
    json_decref(long_obj);
    ctl_str_free(&b);
}

static void test_str(void)
{
    ctl_str b = {0};
    ctl_str_add(&b, "/v1/tenants");
    ctl_str_seg(&b, "a b/c?d%");
    ctl_str_query(&b, "status", "x&y=z");
    ctl_str_query(&b, "none", NULL);
    ctl_str_query(&b, "since_ms", "-5");
    CHECK_STR(b.s, "/v1/tenants/a%20b%2Fc%3Fd%25?status=x%26y%3Dz&since_ms=-5");
    ctl_str_free(&b);

    ctl_str_json(&b, "a\"b\\c\n\x01\x7f\xc3\xa9", 10);
    CHECK_STR(b.s, "\"a\\\"b\\\\c\\n\\u0001\\u007f\xc3\xa9\"");
    json_t *j = json_loads(b.s, JSON_DECODE_ANY, NULL);
    CHECK(j && strcmp(json_string_value(j), "a\"b\\c\n\x01\x7f\xc3\xa9") == 0);
    json_decref(j);
    ctl_str_wipe(&b);
    CHECK(b.s == NULL && b.len == 0);

    for (int i = 0; i < 1000; i++) ctl_str_addf(&b, "%d,", i);
    CHECK(b.len == 3890);
    ctl_str_free(&b);

    CHECK(ctl_utf8_valid("plain", 5));
    CHECK(ctl_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    CHECK(!ctl_utf8_valid("\xc3", 1));
    CHECK(!ctl_utf8_valid("\xc0\xaf", 2));          /* overlong */
    CHECK(!ctl_utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
    CHECK(!ctl_utf8_valid("a\0b", 3));
    CHECK(!ctl_utf8_valid("\xff", 1));

    char path[] = "/tmp/c360-test-ctl-read.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "0123456789", 10) == 10);
    close(fd);
    char *out = NULL, err[128];
    size_t len = 0;
    CHECK(ctl_read_file(path, 10, &out, &len, err, sizeof err) == 0 && len == 10);
    CHECK_STR(out, "0123456789");
    free(out);
    CHECK(ctl_read_file(path, 9, &out, &len, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "larger than 9 bytes");
    unlink(path);
    CHECK(ctl_read_file(path, 9, &out, &len, err, sizeof err) == -1);
}

static char *render_error(long status, const char *body, const char *rid)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    ctl_print_api_error(f, status, body, body ? strlen(body) : 0, rid);
    fclose(f);
    return out;
}

static void test_err(void)
{
    char *s = render_error(422, "{\"error\":{\"code\":\"validation\",\"message\":\"bad body\","
                                "\"details\":[{\"path\":\"/config/a\",\"message\":\"must be a string\"},"
                                "{\"path\":\"\",\"message\":\"not an object\"}],"
                                "\"request_id\":\"srv-1\"}}",
                           "ctl-1");
    CHECK_STR(s, "c360ctl: error 422 validation: bad body\n"
                 "  /config/a: must be a string\n"
                 "  /: not an object\n"
                 "  request id: srv-1\n");
    free(s);
    /* the server's text is made safe; our id when the body has none */
    s = render_error(403, "{\"error\":{\"code\":\"forbidden\",\"message\":\"no\\u001b[2J\"}}", "ctl-2");
    CHECK_STR(s, "c360ctl: error 403 forbidden: no?[2J\n  request id: ctl-2\n");
    free(s);
    s = render_error(413, "<html><body><h1>413</h1>\n<p>Payload\r\n  Too Large</p></body></html>",
                     "ctl-3");
    CHECK_STR(s, "c360ctl: error 413 (not a JSON error: 413 Payload Too Large)\n  request id: ctl-3\n");
    free(s);
    s = render_error(404, NULL, "ctl-4");
    CHECK_CONTAINS(s, "error 404 (empty body");
    free(s);
}

int main(void)
{
    test_err();
    test_args();
    test_conf();
    test_time();
    test_table();
    test_str();
    CHECK_DONE();
}
