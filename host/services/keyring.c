/* keyring.c -- parsing and holding the master keys; see keyring.h. */
#include "keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"

typedef struct kr_entry {
    char id[CH_KEYRING_ID_MAX + 1];
    unsigned char key[CH_KEYRING_KEY_BYTES];
} kr_entry;

/* One sodium_malloc'd block: ids and keys together, read-only once built. */
struct ch_keyring {
    size_t count;
    kr_entry e[];
};

static int id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static int id_valid_n(const char *id, size_t n)
{
    if (n == 0 || n > CH_KEYRING_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!id_char(id[i])) return 0;
    return 1;
}

int ch_keyring_id_valid(const char *id)
{
    return id && id_valid_n(id, strnlen(id, CH_KEYRING_ID_MAX + 1));
}

/* Exactly 64 hex characters into 32 bytes; nothing else accepted. */
static int hex_key(const char *hex, size_t n, unsigned char *key)
{
    if (n != 2 * CH_KEYRING_KEY_BYTES) return -1;
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_hex2bin(key, CH_KEYRING_KEY_BYTES, hex, n, NULL, &bin_len, &end) != 0 ||
        bin_len != CH_KEYRING_KEY_BYTES || end != hex + n)
        return -1;
    return 0;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static ch_keyring *kr_alloc(size_t count)
{
    /* sodium_malloc puts the block against a guard page at its END, so the
     * start is only as aligned as the size: round it up. */
    size_t size = (sizeof(ch_keyring) + count * sizeof(kr_entry) + 15) & ~(size_t)15;
    ch_keyring *kr = sodium_malloc(size);
    if (!kr) abort(); /* the host's OOM policy (util.h) */
    memset(kr, 0, size);
    kr->count = count;
    return kr;
}

/* Parses one trimmed, non-empty, non-comment line into *e. */
static int parse_line(const char *s, size_t n, kr_entry *e, const char *what, const char *unit,
                      unsigned lineno, char *err, size_t errcap)
{
    const char *colon = memchr(s, ':', n);
    const char *hex = s;
    size_t hexlen = n;
    if (colon) {
        size_t idlen = (size_t)(colon - s);
        if (!id_valid_n(s, idlen)) {
            snprintf(err, errcap, "%s %s %u: the key id must be 1..%d of [A-Za-z0-9_-]",
                     what, unit, lineno, CH_KEYRING_ID_MAX);
            return -1;
        }
        memcpy(e->id, s, idlen);
        e->id[idlen] = '\0';
        hex = colon + 1;
        hexlen = n - idlen - 1;
    } else if (n == 2 * CH_KEYRING_KEY_BYTES) {
        /* The first development keys were a bare 64-hex line. */
        memcpy(e->id, "k0", 3);
    } else {
        snprintf(err, errcap, "%s %s %u: expected <key-id>:<64 hex characters>", what, unit,
                 lineno);
        return -1;
    }
    if (hex_key(hex, hexlen, e->key) < 0) {
        snprintf(err, errcap, "%s %s %u: key '%s' must be 64 hex characters (32 bytes)", what,
                 unit, lineno, e->id);
        return -1;
    }
    return 0;
}

ch_err ch_keyring_parse(const char *text, size_t len, int env_form, const char *what,
                        ch_keyring **out, char *err, size_t errcap)
{
    *out = NULL;
    /* Guarded allocation needs libsodium initialised; idempotent. */
    if (sodium_init() < 0) abort();
    if (len > CH_KEYRING_TEXT_MAX) {
        snprintf(err, errcap, "%s: larger than %d bytes", what, CH_KEYRING_TEXT_MAX);
        return CH_ECONFIG;
    }
    const char *unit = env_form ? "entry" : "line";
    /* Parsed into a full-size scratch block first (key bytes never touch
     * ordinary memory), then copied into an exact-size one. */
    ch_keyring *tmp = kr_alloc(CH_KEYRING_MAX_KEYS);
    size_t count = 0;
    unsigned lineno = 0;
    ch_err rc = CH_OK;
    size_t pos = 0;
    while (pos < len && rc == CH_OK) {
        size_t end = pos;
        while (end < len && text[end] != '\n' && !(env_form && text[end] == ',')) end++;
        lineno++;
        size_t a = pos, b = end;
        pos = end + 1;
        while (a < b && is_blank(text[a])) a++;
        while (b > a && is_blank(text[b - 1])) b--;
        if (a == b || text[a] == '#') continue;
        if (count == CH_KEYRING_MAX_KEYS) {
            snprintf(err, errcap, "%s: more than %d keys", what, CH_KEYRING_MAX_KEYS);
            rc = CH_ECONFIG;
            break;
        }
        kr_entry *e = &tmp->e[count];
        if (parse_line(text + a, b - a, e, what, unit, lineno, err, errcap) < 0) {
            rc = CH_ECONFIG;
            break;
        }
        for (size_t i = 0; i < count; i++) {
            if (strcmp(tmp->e[i].id, e->id) == 0) {
                snprintf(err, errcap, "%s %s %u: duplicate key id '%s'", what, unit, lineno,
                         e->id);
                rc = CH_ECONFIG;
                break;
            }
        }
        count++;
    }
    if (rc == CH_OK && count == 0) {
        snprintf(err, errcap, "%s: no key in it (expected <key-id>:<64 hex characters>)", what);
        rc = CH_ECONFIG;
    }
    if (rc == CH_OK) {
        ch_keyring *kr = kr_alloc(count);
        memcpy(kr->e, tmp->e, count * sizeof(kr_entry));
        sodium_mprotect_readonly(kr);
        *out = kr;
    }
    sodium_free(tmp); /* wipes */
    return rc;
}

ch_err ch_keyring_load_file(const char *path, ch_keyring **out, char *err, size_t errcap)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errcap, "master key file %s: %s", path, strerror(errno));
        return CH_ECONFIG;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errcap, "master key file %s: not a regular file", path);
        return CH_ECONFIG;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        snprintf(err, errcap,
                 "master key file %s has mode %03o: refusing a key readable by others (chmod 600)",
                 path, (unsigned)(st.st_mode & 0777));
        return CH_ECONFIG;
    }
    if (st.st_size > CH_KEYRING_TEXT_MAX) {
        close(fd);
        snprintf(err, errcap, "master key file %s: larger than %d bytes", path,
                 CH_KEYRING_TEXT_MAX);
        return CH_ECONFIG;
    }
    /* The text holds key hex: read it into guarded memory, wiped on free. */
    if (sodium_init() < 0) abort();
    size_t cap = (size_t)st.st_size + 1;
    char *buf = sodium_malloc(cap);
    if (!buf) abort();
    size_t n = 0;
    int rerr = 0;
    while (n < cap - 1) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { rerr = errno; break; }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    ch_err rc;
    if (rerr) {
        snprintf(err, errcap, "master key file %s: %s", path, strerror(rerr));
        rc = CH_ECONFIG;
    } else {
        char *what = ch_asprintf("master key file %s", path);
        rc = ch_keyring_parse(buf, n, 0, what, out, err, errcap);
        free(what);
    }
    sodium_free(buf);
    return rc;
}

static void utc_id(char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, cap, "k%Y%m%dT%H%M%SZ", &tm);
}

int ch_keyring_generate_line(const char *id, char *out, size_t outcap)
{
    char idbuf[CH_KEYRING_ID_MAX + 1];
    if (sodium_init() < 0) abort();
    if (!id) {
        utc_id(idbuf, sizeof idbuf);
        id = idbuf;
    }
    if (!ch_keyring_id_valid(id) || outcap < CH_KEYRING_LINE_MAX) return -1;
    unsigned char key[CH_KEYRING_KEY_BYTES];
    randombytes_buf(key, sizeof key);
    size_t idlen = strlen(id);
    memcpy(out, id, idlen);
    out[idlen] = ':';
    sodium_bin2hex(out + idlen + 1, outcap - idlen - 1, key, sizeof key);
    sodium_memzero(key, sizeof key);
    size_t n = strlen(out);
    out[n] = '\n';
    out[n + 1] = '\0';
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Development default: data_dir/master.key. Written to a private temporary
 * file and published with link(2), which fails if the name exists: two
 * processes starting at once never see a half-written key, and exactly one
 * key wins. */
static ch_err dev_keyring(const char *data_dir, ch_keyring **out, ch_key_origin *origin,
                          char *err, size_t errcap)
{
    char *path = ch_asprintf("%s/master.key", data_dir);
    if (access(path, F_OK) == 0) {
        *origin = CH_KEY_DEV_FILE;
        ch_err e = ch_keyring_load_file(path, out, err, errcap);
        free(path);
        return e;
    }
    char *tmp = ch_asprintf("%s/.master.key.%ld.tmp", data_dir, (long)getpid());
    ch_err rc = CH_OK;
    char *line = sodium_malloc(CH_KEYRING_LINE_MAX);
    if (!line) abort();
    static const char head[] =
        "# c360 development master keyring (format: docs/secrets.md). Not for production.\n";
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || ch_keyring_generate_line(NULL, line, CH_KEYRING_LINE_MAX) < 0) {
        snprintf(err, errcap, "cannot create dev master key %s: %s", tmp, strerror(errno));
        rc = CH_EIO;
    } else {
        size_t n = strlen(line);
        int ok = write(fd, head, sizeof head - 1) == (ssize_t)(sizeof head - 1) &&
                 write(fd, line, n) == (ssize_t)n && fsync(fd) == 0;
        int werr = errno;
        if (!ok) {
            snprintf(err, errcap, "cannot write dev master key %s: %s", tmp, strerror(werr));
            rc = CH_EIO;
        } else if (link(tmp, path) < 0) {
            if (errno == EEXIST) {
                /* Another process published first: use its key. */
                *origin = CH_KEY_DEV_FILE;
                rc = ch_keyring_load_file(path, out, err, errcap);
            } else {
                snprintf(err, errcap, "cannot create dev master key %s: %s", path,
                         strerror(errno));
                rc = CH_EIO;
            }
        } else {
            fsync_dir(data_dir);
            *origin = CH_KEY_DEV_GENERATED;
            rc = ch_keyring_parse(line, n, 0, path, out, err, errcap);
        }
    }
    if (fd >= 0) close(fd);
    unlink(tmp);
    sodium_free(line);
    free(tmp);
    free(path);
    return rc;
}

ch_err ch_keyring_load(const char *file, const char *data_dir, int dev, ch_keyring **out,
                       ch_key_origin *origin, char *err, size_t errcap)
{
    ch_key_origin dummy;
    if (!origin) origin = &dummy;
    *out = NULL;
    if (file) {
        *origin = CH_KEY_FROM_FILE;
        return ch_keyring_load_file(file, out, err, errcap);
    }
    const char *env = getenv("C360_MASTER_KEY");
    if (env && *env) {
        *origin = CH_KEY_FROM_ENV;
        return ch_keyring_parse(env, strnlen(env, CH_KEYRING_TEXT_MAX + 1), 1, "C360_MASTER_KEY",
                                out, err, errcap);
    }
    if (!dev || !data_dir) {
        snprintf(err, errcap,
                 "no master key: set master_key_file or C360_MASTER_KEY (only the development "
                 "default generates one)");
        return CH_ECONFIG;
    }
    return dev_keyring(data_dir, out, origin, err, errcap);
}

void ch_keyring_free(ch_keyring *kr)
{
    if (kr) sodium_free(kr); /* makes it writable again and wipes it */
}

size_t ch_keyring_count(const ch_keyring *kr) { return kr ? kr->count : 0; }

const char *ch_keyring_id_at(const ch_keyring *kr, size_t i)
{
    return kr && i < kr->count ? kr->e[i].id : NULL;
}

const char *ch_keyring_active_id(const ch_keyring *kr)
{
    return kr && kr->count ? kr->e[kr->count - 1].id : NULL;
}

const unsigned char *ch_keyring_key(const ch_keyring *kr, const char *id)
{
    if (!kr || !id) return NULL;
    for (size_t i = 0; i < kr->count; i++)
        if (strcmp(kr->e[i].id, id) == 0) return kr->e[i].key;
    return NULL;
}
