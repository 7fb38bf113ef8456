/* main.c -- c360d's command line. Flags override the configuration file
 * key by key; they are merged into the same JSON document and validated by
 * the same code, so a bad flag is reported like a bad key. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "connector_api.h"
#include "daemon.h"
#include "log.h"

#ifndef C360_INSTALL_LIBDIR
#define C360_INSTALL_LIBDIR "lib"
#endif
#ifndef C360_DEFAULT_PLUGIN_DIR
#define C360_DEFAULT_PLUGIN_DIR "/usr/local/lib/c360/plugins"
#endif

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: c360d [OPTIONS]\n"
        "Connector 360 host: receives provider webhooks, runs connector plugins,\n"
        "delivers normalised records.\n"
        "\n"
        "Options (each overrides the matching configuration key):\n"
        "  -c, --config FILE            JSON configuration file\n"
        "      --listen ADDR:PORT       HTTP listener (listen; default " CH_DEFAULT_LISTEN ")\n"
        "      --redis URL              redis://HOST:PORT[/DB] or unix:///PATH (redis.url);\n"
        "                               without one, a private redis-server is started\n"
        "      --redis-user NAME        Redis ACL user (redis.username)\n"
        "      --redis-password-file F  file with the Redis password (redis.password_file);\n"
        "                               or set C360_REDIS_PASSWORD\n"
        "      --plugin-dir DIR         load plugins from DIR; repeatable (plugin_dirs;\n"
        "                               default: ../" C360_INSTALL_LIBDIR "/c360/plugins next to\n"
        "                               this binary, else " C360_DEFAULT_PLUGIN_DIR ")\n"
        "      --data-dir DIR           runtime data directory (data_dir; default " CH_DEFAULT_DATA_DIR ")\n"
        "      --master-key-file FILE   master key, mode 0600 (master_key_file);\n"
        "                               or set C360_MASTER_KEY\n"
        "      --log-level LEVEL        debug, info, warn or error (log_level)\n"
        "      --shutdown-timeout-ms N  drain deadline on SIGTERM (shutdown_timeout_ms)\n"
        "      --check-config           validate the configuration and exit\n"
        "  -h, --help                   this text\n"
        "  -V, --version                host and ABI versions\n"
        "\n"
        "Secrets are never accepted as values: only as files or environment variables.\n"
        "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP re-reads the configuration.\n"
        "\n%s",
        ch_config_help);
}

enum {
    OPT_LISTEN = 256, OPT_REDIS, OPT_REDIS_USER, OPT_REDIS_PWFILE, OPT_PLUGIN_DIR,
    OPT_DATA_DIR, OPT_MASTER_KEY, OPT_LOG_LEVEL, OPT_SHUTDOWN, OPT_CHECK
};

static json_t *sub(json_t *o, const char *k)
{
    json_t *s = json_object_get(o, k);
    if (!s) { s = json_object(); json_object_set_new(o, k, s); }
    return s;
}

/* The bundled plugins sit at <prefix>/<libdir>/c360/plugins; find them from
 * where this binary is (<prefix>/bin/c360d), so an install under any
 * --prefix works without flags. Falls back to the configure-time path. */
static const char *default_plugin_dir(void)
{
    static char buf[4096];
    char exe[4000];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, sizeof buf, "%s/../%s/c360/plugins", exe, C360_INSTALL_LIBDIR);
            struct stat st;
            if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) return buf;
        }
    }
    return C360_DEFAULT_PLUGIN_DIR;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"redis", required_argument, NULL, OPT_REDIS},
        {"redis-user", required_argument, NULL, OPT_REDIS_USER},
        {"redis-password-file", required_argument, NULL, OPT_REDIS_PWFILE},
        {"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR},
        {"data-dir", required_argument, NULL, OPT_DATA_DIR},
        {"master-key-file", required_argument, NULL, OPT_MASTER_KEY},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"shutdown-timeout-ms", required_argument, NULL, OPT_SHUTDOWN},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config_file = NULL;
    int check_only = 0;
    json_t *ov = json_object();
    json_t *dirs = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_file = optarg; break;
        case OPT_LISTEN: json_object_set_new(ov, "listen", json_string(optarg)); break;
        case OPT_REDIS: json_object_set_new(sub(ov, "redis"), "url", json_string(optarg)); break;
        case OPT_REDIS_USER: json_object_set_new(sub(ov, "redis"), "username", json_string(optarg)); break;
        case OPT_REDIS_PWFILE: json_object_set_new(sub(ov, "redis"), "password_file", json_string(optarg)); break;
        case OPT_PLUGIN_DIR:
            if (!dirs) { dirs = json_array(); json_object_set_new(ov, "plugin_dirs", dirs); }
            json_array_append_new(dirs, json_string(optarg));
            break;
        case OPT_DATA_DIR: json_object_set_new(ov, "data_dir", json_string(optarg)); break;
        case OPT_MASTER_KEY: json_object_set_new(ov, "master_key_file", json_string(optarg)); break;
        case OPT_LOG_LEVEL: json_object_set_new(ov, "log_level", json_string(optarg)); break;
        case OPT_SHUTDOWN: {
            char *end = NULL;
            long long v = strtoll(optarg, &end, 10);
            /* Not a number: pass the text so validation names the key. */
            json_object_set_new(ov, "shutdown_timeout_ms",
                                (*optarg && end && !*end) ? json_integer(v) : json_string(optarg));
            break;
        }
        case OPT_CHECK: check_only = 1; break;
        case 'h': usage(stdout); json_decref(ov); return 0;
        case 'V':
            printf("c360d %s (connector ABI %d.%d)\n", C360_VERSION, C360_ABI_MAJOR, C360_ABI_MINOR);
            json_decref(ov);
            return 0;
        default:
            fprintf(stderr, "Try 'c360d --help'.\n");
            json_decref(ov);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "c360d: unexpected argument '%s'\nTry 'c360d --help'.\n", argv[optind]);
        json_decref(ov);
        return 2;
    }
    if (json_object_size(ov) == 0) { json_decref(ov); ov = NULL; }

    int rc;
    if (check_only) {
        ch_config *cfg = NULL;
        char err[512];
        if (ch_config_load(config_file, ov, default_plugin_dir(), &cfg, err, sizeof err) != CH_OK) {
            fprintf(stderr, "c360d: configuration refused: %s\n", err);
            rc = 2;
        } else {
            printf("configuration ok\n");
            ch_config_free(cfg);
            rc = 0;
        }
    } else {
        rc = ch_daemon_run(config_file, ov, default_plugin_dir());
    }
    json_decref(ov);
    return rc;
}
