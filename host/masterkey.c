#include "masterkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "util.h"

static int decode(const char *hex, size_t len, unsigned char *key)
{
    while (len && (hex[len - 1] == '\n' || hex[len - 1] == '\r')) len--;
    size_t bin_len = 0;
    if (len != CH_MASTER_KEY_BYTES * 2) return -1;
    if (sodium_hex2bin(key, CH_MASTER_KEY_BYTES, hex, len, NULL, &bin_len, NULL) != 0 ||
        bin_len != CH_MASTER_KEY_BYTES)
        return -1;
    return 0;
}

static ch_err load_file(const char *path, unsigned char *key, char *err, size_t errcap)
{
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
        snprintf(err, errcap, "master key file %s has mode %03o: refusing a key readable by others (chmod 600)",
                 path, (unsigned)(st.st_mode & 0777));
        return CH_ECONFIG;
    }
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    int bad = n <= 0 || decode(buf, (size_t)n, key) < 0;
    sodium_memzero(buf, sizeof buf);
    if (bad) {
        snprintf(err, errcap, "master key file %s: expected 64 hex characters", path);
        return CH_ECONFIG;
    }
    return CH_OK;
}

ch_err ch_master_key_load(const char *file, const char *data_dir, int dev,
                          unsigned char *key, ch_key_origin *origin,
                          char *err, size_t errcap)
{
    if (file) {
        *origin = CH_KEY_FROM_FILE;
        return load_file(file, key, err, errcap);
    }
    const char *env = getenv("C360_MASTER_KEY");
    if (env && *env) {
        *origin = CH_KEY_FROM_ENV;
        if (decode(env, strlen(env), key) < 0) {
            snprintf(err, errcap, "C360_MASTER_KEY: expected 64 hex characters");
            return CH_ECONFIG;
        }
        return CH_OK;
    }
    if (!dev) {
        snprintf(err, errcap, "no master key: set master_key_file or C360_MASTER_KEY (only the development default generates one)");
        return CH_ECONFIG;
    }
    char *path = ch_asprintf("%s/master.key", data_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        *origin = CH_KEY_DEV_FILE;
        ch_err e = load_file(path, key, err, errcap);
        free(path);
        return e;
    }
    if (fd < 0) {
        snprintf(err, errcap, "cannot create dev master key %s: %s", path, strerror(errno));
        free(path);
        return CH_EIO;
    }
    randombytes_buf(key, CH_MASTER_KEY_BYTES);
    char hex[CH_MASTER_KEY_BYTES * 2 + 2];
    sodium_bin2hex(hex, sizeof hex - 1, key, CH_MASTER_KEY_BYTES);
    size_t len = strlen(hex);
    hex[len++] = '\n';
    ssize_t w = write(fd, hex, len);
    int werr = errno;
    sodium_memzero(hex, sizeof hex);
    if (w != (ssize_t)len || fsync(fd) < 0) {
        close(fd);
        unlink(path);
        snprintf(err, errcap, "cannot write dev master key %s: %s", path, strerror(werr));
        free(path);
        return CH_EIO;
    }
    close(fd);
    free(path);
    *origin = CH_KEY_DEV_GENERATED;
    return CH_OK;
}
