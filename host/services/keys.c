#include "keys.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int ch_id_valid(const char *id)
{
    if (!id) return 0;
    size_t n = strnlen(id, CH_ID_MAX + 1);
    if (n == 0 || n > CH_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int ch_name_valid(const char *name)
{
    if (!name) return 0;
    size_t n = strnlen(name, CH_NAME_MAX + 1);
    if (n == 0 || n > CH_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e) return 0;
    return 1;
}

static char *vkey(const char *tag, const char *id, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) n = 0;
    size_t head = strlen("c360:{") + strlen(tag) + strlen(id) + strlen("}:");
    char *k = ch_malloc(head + (size_t)n + 1);
    snprintf(k, head + 1, "c360:{%s%s}:", tag, id);
    vsnprintf(k + head, (size_t)n + 1, fmt, ap);
    return k;
}

char *ch_key_tenant(const char *tenant, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *k = vkey("t:", tenant, fmt, ap);
    va_end(ap);
    return k;
}

char *ch_key_plugin(const char *plugin, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *k = vkey("p:", plugin, fmt, ap);
    va_end(ap);
    return k;
}

char *ch_key_tenant_prefix(const char *tenant)
{
    return ch_asprintf("c360:{t:%s}:", tenant);
}
