/* test_keyring.c -- the master keyring: file and environment formats, the
 * last key active, refusals (duplicates, bad hex, bad ids, loose file
 * modes, oversized input), the development default file, and errors that
 * never quote key material. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "keyring.h"

static char g_dir[64];

#define HEX_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define HEX_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define HEX_C "0123456789ABCDEF0123456789ABCDEF0123456789abcdef0123456789abcdef"

static char *write_file(const char *name, const char *text, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror("open"); exit(1); }
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) { perror("write"); exit(1); }
    close(fd);
    chmod(path, mode);
    return path;
}

static ch_keyring *parse(const char *text, int env_form, char *err, size_t errcap)
{
    ch_keyring *kr = NULL;
    err[0] = '\0';
    ch_err rc = ch_keyring_parse(text, strlen(text), env_form, "test", &kr, err, errcap);
    CHECK((rc == CH_OK) == (kr != NULL));
    return kr;
}

static int key_is(const ch_keyring *kr, const char *id, const char *hex)
{
    const unsigned char *k = ch_keyring_key(kr, id);
    if (!k) return 0;
    unsigned char want[32];
    size_t n;
    if (sodium_hex2bin(want, sizeof want, hex, 64, NULL, &n, NULL) != 0 || n != 32) return 0;
    return memcmp(k, want, 32) == 0;
}

static void test_good_formats(void)
{
    char err[256];
    /* Comments, blank lines, CRLF and surrounding blanks are fine; the last
     * key is active. */
    ch_keyring *kr = parse("# keyring\n\n  old-1:" HEX_A "  \r\n#b:" HEX_C "\n"
                           "\tnew_2:" HEX_B "\r\n", 0, err, sizeof err);
    CHECK(kr != NULL);
    CHECK(ch_keyring_count(kr) == 2);
    CHECK_STR(ch_keyring_id_at(kr, 0), "old-1");
    CHECK_STR(ch_keyring_id_at(kr, 1), "new_2");
    CHECK(ch_keyring_id_at(kr, 2) == NULL);
    CHECK_STR(ch_keyring_active_id(kr), "new_2");
    CHECK(key_is(kr, "old-1", HEX_A));
    CHECK(key_is(kr, "new_2", HEX_B));
    CHECK(ch_keyring_key(kr, "b") == NULL); /* commented out */
    CHECK(ch_keyring_key(kr, "missing") == NULL);
    ch_keyring_free(kr);

    /* A bare 64-hex line (the old dev key format) is "k0"; upper case hex
     * is accepted. */
    kr = parse(HEX_C "\n", 0, err, sizeof err);
    CHECK(kr && ch_keyring_count(kr) == 1);
    CHECK_STR(ch_keyring_active_id(kr), "k0");
    CHECK(key_is(kr, "k0", HEX_C));
    ch_keyring_free(kr);

    /* No trailing newline; a 32-character id. */
    kr = parse("abcdefghijklmnopqrstuvwxyz012345:" HEX_A, 0, err, sizeof err);
    CHECK(kr && key_is(kr, "abcdefghijklmnopqrstuvwxyz012345", HEX_A));
    ch_keyring_free(kr);

    /* In a file a comma is not a separator. */
    kr = parse("a:" HEX_A ",b:" HEX_B "\n", 0, err, sizeof err);
    CHECK(kr == NULL);
    CHECK_CONTAINS(err, "line 1");
}

static void test_refusals(void)
{
    char err[256];
    CHECK(parse("a:" HEX_A "\nb:" HEX_B "\na:" HEX_C "\n", 0, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "line 3: duplicate key id 'a'");
    /* bare hex and an explicit k0 collide too */
    CHECK(parse(HEX_A "\nk0:" HEX_B "\n", 0, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "duplicate key id 'k0'");

    /* Bad hex: one short, one long, a non-hex character. The message names
     * the line and the key id, never the hex. */
    const char *bad[] = {"a:" HEX_A "\nb:0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
                         "a:" HEX_A "\nb:" HEX_B "0\n",
                         "a:" HEX_A "\nb:g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(parse(bad[i], 0, err, sizeof err) == NULL);
        CHECK_CONTAINS(err, "line 2: key 'b' must be 64 hex characters");
        CHECK(strstr(err, "112233445566") == NULL);
    }
    /* A line that is neither id:hex nor 64 hex. */
    CHECK(parse("not a key\n", 0, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "line 1: expected <key-id>:<64 hex characters>");
    /* Bad ids: empty, too long, a forbidden character. */
    const char *badid[] = {":" HEX_A, "abcdefghijklmnopqrstuvwxyz0123456:" HEX_A,
                           "a.b:" HEX_A, "a b:" HEX_A, "k{1}:" HEX_A};
    for (size_t i = 0; i < sizeof badid / sizeof *badid; i++) {
        CHECK(parse(badid[i], 0, err, sizeof err) == NULL);
        CHECK_CONTAINS(err, "the key id must be 1..32 of [A-Za-z0-9_-]");
        CHECK(strstr(err, "00112233") == NULL);
    }
    /* Nothing but comments. */
    CHECK(parse("# only a comment\n\n", 0, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "no key in it");
    CHECK(parse("", 0, err, sizeof err) == NULL);
    /* More keys than the bound. */
    size_t cap = (CH_KEYRING_MAX_KEYS + 1) * 80;
    char *many = malloc(cap);
    size_t n = 0;
    for (int i = 0; i <= CH_KEYRING_MAX_KEYS; i++)
        n += (size_t)snprintf(many + n, cap - n, "k%d:%s\n", i, HEX_A);
    CHECK(parse(many, 0, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "more than 256 keys");
    free(many);
    /* Exactly at the bound is fine. */
    many = malloc(cap);
    n = 0;
    for (int i = 0; i < CH_KEYRING_MAX_KEYS; i++)
        n += (size_t)snprintf(many + n, cap - n, "k%d:%s\n", i, HEX_A);
    ch_keyring *kr = parse(many, 0, err, sizeof err);
    CHECK(kr && ch_keyring_count(kr) == CH_KEYRING_MAX_KEYS);
    CHECK_STR(ch_keyring_active_id(kr), "k255");
    ch_keyring_free(kr);
    free(many);
    /* A NUL byte inside the text is not silently accepted. */
    char withnul[] = "a:" HEX_A "\nb:" HEX_B;
    withnul[5] = '\0';
    kr = NULL;
    CHECK(ch_keyring_parse(withnul, sizeof withnul - 1, 0, "test", &kr, err, sizeof err) ==
          CH_ECONFIG);
    CHECK(kr == NULL);
}

static void test_env(void)
{
    char err[256];
    ch_keyring *kr = NULL;
    ch_key_origin origin;

    setenv("C360_MASTER_KEY", "a:" HEX_A ", b:" HEX_B, 1);
    CHECK(ch_keyring_load(NULL, NULL, 0, &kr, &origin, err, sizeof err) == CH_OK);
    CHECK(origin == CH_KEY_FROM_ENV);
    CHECK(kr && ch_keyring_count(kr) == 2);
    CHECK_STR(ch_keyring_active_id(kr), "b");
    CHECK(key_is(kr, "a", HEX_A));
    ch_keyring_free(kr);

    setenv("C360_MASTER_KEY", HEX_B, 1); /* today's bare form */
    CHECK(ch_keyring_load(NULL, NULL, 0, &kr, NULL, err, sizeof err) == CH_OK);
    CHECK(kr && key_is(kr, "k0", HEX_B));
    CHECK_STR(ch_keyring_active_id(kr), "k0");
    ch_keyring_free(kr);

    setenv("C360_MASTER_KEY", "a:" HEX_A "\nb:" HEX_B "\n", 1); /* newlines work too */
    CHECK(ch_keyring_load(NULL, NULL, 0, &kr, NULL, err, sizeof err) == CH_OK);
    CHECK(kr && ch_keyring_count(kr) == 2);
    ch_keyring_free(kr);

    setenv("C360_MASTER_KEY", "a:" HEX_A ",a:" HEX_B, 1);
    CHECK(ch_keyring_load(NULL, NULL, 0, &kr, NULL, err, sizeof err) == CH_ECONFIG);
    CHECK_CONTAINS(err, "C360_MASTER_KEY entry 2: duplicate key id 'a'");

    setenv("C360_MASTER_KEY", "a:" HEX_A ",b:zz", 1);
    CHECK(ch_keyring_load(NULL, NULL, 0, &kr, NULL, err, sizeof err) == CH_ECONFIG);
    CHECK_CONTAINS(err, "C360_MASTER_KEY entry 2: key 'b' must be 64 hex characters");
    CHECK(strstr(err, HEX_A) == NULL);

    /* A file, when given, wins over the environment. */
    setenv("C360_MASTER_KEY", "env:" HEX_A, 1);
    char *path = write_file("wins.key", "file:" HEX_B "\n", 0600);
    CHECK(ch_keyring_load(path, NULL, 0, &kr, &origin, err, sizeof err) == CH_OK);
    CHECK(origin == CH_KEY_FROM_FILE);
    CHECK_STR(ch_keyring_active_id(kr), "file");
    ch_keyring_free(kr);

    unsetenv("C360_MASTER_KEY");
    CHECK(ch_keyring_load(NULL, g_dir, 0, &kr, NULL, err, sizeof err) == CH_ECONFIG);
    CHECK_CONTAINS(err, "no master key");
    CHECK(kr == NULL);
}

static void test_files(void)
{
    char err[256];
    ch_keyring *kr = NULL;
    const char *text = "# prod\nkA:" HEX_A "\nkB:" HEX_B "\n";

    char *path = write_file("good.key", text, 0600);
    CHECK(ch_keyring_load_file(path, &kr, err, sizeof err) == CH_OK);
    CHECK(kr && ch_keyring_count(kr) == 2 && key_is(kr, "kA", HEX_A));
    ch_keyring_free(kr);
    path = write_file("ro.key", text, 0400);
    CHECK(ch_keyring_load_file(path, &kr, err, sizeof err) == CH_OK);
    ch_keyring_free(kr);

    /* Group- or world-readable (or -writable) files are refused. */
    mode_t loose[] = {0640, 0604, 0620, 0660, 0644};
    for (size_t i = 0; i < sizeof loose / sizeof *loose; i++) {
        path = write_file("loose.key", text, loose[i]);
        kr = NULL;
        CHECK(ch_keyring_load_file(path, &kr, err, sizeof err) == CH_ECONFIG);
        CHECK(kr == NULL);
        CHECK_CONTAINS(err, "refusing a key readable by others (chmod 600)");
    }
    /* Errors in a file name the file and the line. */
    path = write_file("bad.key", "kA:" HEX_A "\nkB:" HEX_B "x\n", 0600);
    CHECK(ch_keyring_load_file(path, &kr, err, sizeof err) == CH_ECONFIG);
    CHECK_CONTAINS(err, "bad.key line 2: key 'kB' must be 64 hex characters");
    /* Missing file, directory, oversized file. */
    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope.key", g_dir);
    CHECK(ch_keyring_load_file(missing, &kr, err, sizeof err) == CH_ECONFIG);
    CHECK_CONTAINS(err, "No such file");
    CHECK(ch_keyring_load_file(g_dir, &kr, err, sizeof err) == CH_ECONFIG);
    CHECK_CONTAINS(err, "not a regular file");
    char *big = malloc(CH_KEYRING_TEXT_MAX + 100);
    memset(big, '#', CH_KEYRING_TEXT_MAX + 99);
    big[CH_KEYRING_TEXT_MAX + 99] = '\0';
    path = write_file("big.key", big, 0600);
    free(big);
    CHECK(ch_keyring_load_file(path, &kr, err, sizeof err) == CH_ECONFIG);
    CHECK_CONTAINS(err, "larger than");
}

static void test_dev_default(void)
{
    char err[256];
    ch_keyring *kr = NULL, *again = NULL;
    ch_key_origin origin;
    char dev[128], path[160];
    snprintf(dev, sizeof dev, "%s/data", g_dir);
    mkdir(dev, 0700);
    snprintf(path, sizeof path, "%s/master.key", dev);
    unsetenv("C360_MASTER_KEY");

    CHECK(ch_keyring_load(NULL, dev, 1, &kr, &origin, err, sizeof err) == CH_OK);
    CHECK(origin == CH_KEY_DEV_GENERATED);
    CHECK(kr && ch_keyring_count(kr) == 1);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* The file holds the new format: comment line, then <id>:<hex>. */
    FILE *f = fopen(path, "r");
    char line[256] = "", keyline[256] = "";
    while (f && fgets(line, sizeof line, f))
        if (line[0] != '#') snprintf(keyline, sizeof keyline, "%s", line);
    if (f) fclose(f);
    const char *colon = strchr(keyline, ':');
    CHECK(colon && strlen(colon + 1) == 65); /* 64 hex + '\n' */
    CHECK(colon && strncmp(keyline, ch_keyring_active_id(kr), (size_t)(colon - keyline)) == 0);
    /* No temporary file is left behind. */
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s/.master.key.%ld.tmp", dev, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);

    /* Loaded again: the same key, from the file. */
    CHECK(ch_keyring_load(NULL, dev, 1, &again, &origin, err, sizeof err) == CH_OK);
    CHECK(origin == CH_KEY_DEV_FILE);
    CHECK(again && strcmp(ch_keyring_active_id(again), ch_keyring_active_id(kr)) == 0);
    CHECK(again && memcmp(ch_keyring_key(again, ch_keyring_active_id(again)),
                          ch_keyring_key(kr, ch_keyring_active_id(kr)), 32) == 0);
    ch_keyring_free(kr);
    ch_keyring_free(again);

    /* An old bare-hex dev key file still loads, as k0. */
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0 && write(fd, HEX_A "\n", 65) == 65);
    if (fd >= 0) close(fd);
    CHECK(ch_keyring_load(NULL, dev, 1, &kr, &origin, err, sizeof err) == CH_OK);
    CHECK(origin == CH_KEY_DEV_FILE && kr && key_is(kr, "k0", HEX_A));
    ch_keyring_free(kr);

    /* A dev key file made readable by others is refused like any other. */
    chmod(path, 0644);
    CHECK(ch_keyring_load(NULL, dev, 1, &kr, &origin, err, sizeof err) == CH_ECONFIG);
    CHECK_CONTAINS(err, "chmod 600");
}

static void test_generate(void)
{
    char line[CH_KEYRING_LINE_MAX], err[256];
    CHECK(ch_keyring_generate_line(NULL, line, sizeof line) == 0);
    /* k<YYYYMMDD>T<HHMMSS>Z:<64 hex>\n */
    CHECK(strlen(line) == 17 + 1 + 64 + 1);
    CHECK(line[0] == 'k' && line[9] == 'T' && line[16] == 'Z' && line[17] == ':');
    ch_keyring *kr = parse(line, 0, err, sizeof err);
    CHECK(kr != NULL);
    ch_keyring_free(kr);

    char other[CH_KEYRING_LINE_MAX];
    CHECK(ch_keyring_generate_line("my-key_2", other, sizeof other) == 0);
    CHECK(strncmp(other, "my-key_2:", 9) == 0 && strlen(other) == 9 + 64 + 1);
    char third[CH_KEYRING_LINE_MAX];
    CHECK(ch_keyring_generate_line("my-key_2", third, sizeof third) == 0);
    CHECK(strcmp(other, third) != 0); /* fresh randomness each time */
    CHECK(ch_keyring_generate_line("bad id", other, sizeof other) == -1);
    CHECK(ch_keyring_generate_line("a", other, 10) == -1);

    CHECK(ch_keyring_id_valid("a"));
    CHECK(ch_keyring_id_valid("A-z_09"));
    CHECK(!ch_keyring_id_valid(""));
    CHECK(!ch_keyring_id_valid(NULL));
    CHECK(!ch_keyring_id_valid("a:b"));
    CHECK(!ch_keyring_id_valid("abcdefghijklmnopqrstuvwxyz0123456"));
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    snprintf(g_dir, sizeof g_dir, "/tmp/c360-kr-XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    test_good_formats();
    test_refusals();
    test_env();
    test_files();
    test_dev_default();
    test_generate();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", g_dir);
    CHECK_DONE();
}
