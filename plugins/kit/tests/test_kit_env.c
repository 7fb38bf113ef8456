/* test_kit_env -- the kit's operator settings from the environment
 * (c360kit_env_url, c360kit_env_num): defaults, normalisation, and every
 * kind of bad value refused with the variable named. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c360kit.h"
#include "check.h"

static char g_err[256];

static void rec_error(c360_call *call, const char *fmt, ...)
{
    (void)call;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
}

static c360_host_api g_host;

static int url(const char *value, char *out, size_t max_len)
{
    g_err[0] = '\0';
    if (value) setenv("KIT_T_URL", value, 1);
    else unsetenv("KIT_T_URL");
    return c360kit_env_url("KIT_T_URL", "https://api.example.com/", out, max_len, NULL, &g_host);
}

static int num(const char *value, uint32_t *out)
{
    g_err[0] = '\0';
    if (value) setenv("KIT_T_NUM", value, 1);
    else unsetenv("KIT_T_NUM");
    return c360kit_env_num("KIT_T_NUM", 42, 10, 1000, out, NULL, &g_host);
}

int main(void)
{
    g_host.call_error = rec_error;
    char out[32];

    CHECK(url(NULL, out, sizeof out) && strcmp(out, "https://api.example.com") == 0);
    CHECK(url("", out, sizeof out) && strcmp(out, "https://api.example.com") == 0);
    CHECK(url("http://127.0.0.1:8080//", out, sizeof out) && strcmp(out, "http://127.0.0.1:8080") == 0);
    static const char *bad[] = {"ftp://x", "https://x/?q=1", "https://x/#f", "https://a b",
                                "https://x/\x7f", "/", "https://", "https://0123456789012345678901234", "http://"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        strcpy(out, "unchanged");
        CHECK(!url(bad[i], out, sizeof out));
        CHECK(strstr(g_err, "KIT_T_URL must be an http(s) URL") != NULL);
        CHECK(strcmp(out, "unchanged") == 0);
    }
    /* The bound is the length without the NUL: max_len - 1 fits. */
    CHECK(url("https://abcdefghijklmnopqrstuvw", out, sizeof out) && strlen(out) == 31);

    uint32_t v = 0;
    CHECK(num(NULL, &v) && v == 42);
    CHECK(num("", &v) && v == 42);
    CHECK(num("10", &v) && v == 10);
    CHECK(num("1000", &v) && v == 1000);
    static const char *badn[] = {"9", "1001", "-5", "12x", " 12", "+12", "0x20", "99999999999999999999"};
    for (size_t i = 0; i < sizeof badn / sizeof *badn; i++) {
        CHECK(!num(badn[i], &v));
        CHECK(strcmp(g_err, "KIT_T_NUM must be 10 to 1000") == 0);
    }
    CHECK_DONE();
}
