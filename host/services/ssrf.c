/* ssrf.c -- see ssrf.h. */
#include "ssrf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "connector_api.h"

/* Maps any address to the 16-byte IPv6 form (IPv4 as ::ffff:a.b.c.d).
 * Returns -1 for other families or a short sockaddr. */
static int to_v6(const struct sockaddr *sa, size_t salen, uint8_t out[16],
                 uint16_t *port)
{
    if (!sa) return -1;
    if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &s4->sin_addr, 4);
        if (port) *port = ntohs(s4->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        memcpy(out, &s6->sin6_addr, 16);
        if (port) *port = ntohs(s6->sin6_port);
        return 0;
    }
    return -1;
}

static int prefix_match(const uint8_t *a, const uint8_t *net, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, net, whole) != 0) return 0;
    if (rest == 0) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (net[whole] & mask);
}

/* IPv4 special-purpose ranges (RFC 6890 and friends), first match wins. */
static const char *classify_v4(const uint8_t a[4])
{
    static const struct { uint8_t net[4]; unsigned bits; const char *why; } t[] = {
        {{0, 0, 0, 0}, 8, "unspecified"},   /* "this network", 0.0.0.0 */
        {{10, 0, 0, 0}, 8, "private"},
        {{100, 64, 0, 0}, 10, "cgnat"},
        {{127, 0, 0, 0}, 8, "loopback"},
        {{169, 254, 0, 0}, 16, "link-local"}, /* incl. 169.254.169.254 */
        {{172, 16, 0, 0}, 12, "private"},
        {{192, 0, 0, 0}, 24, "reserved"},
        {{192, 0, 2, 0}, 24, "reserved"},     /* documentation */
        {{192, 88, 99, 0}, 24, "reserved"},   /* 6to4 relay anycast */
        {{192, 168, 0, 0}, 16, "private"},
        {{198, 18, 0, 0}, 15, "reserved"},    /* benchmarking */
        {{198, 51, 100, 0}, 24, "reserved"},
        {{203, 0, 113, 0}, 24, "reserved"},
        {{224, 0, 0, 0}, 4, "multicast"},
        {{255, 255, 255, 255}, 32, "broadcast"},
        {{240, 0, 0, 0}, 4, "reserved"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (prefix_match(a, t[i].net, t[i].bits)) return t[i].why;
    return NULL;
}

static const char *classify_v6(const uint8_t a[16])
{
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (memcmp(a, zero, 16) == 0) return "unspecified";
    if (memcmp(a, zero, 15) == 0 && a[15] == 1) return "loopback";
    /* Forms that carry an IPv4 address: judge the IPv4 address, since that
     * is where the packets end up (the kernel or a NAT64 gateway unwraps
     * them). */
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return classify_v4(a + 12);
    static const uint8_t translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    if (memcmp(a, translated, 12) == 0) return classify_v4(a + 12); /* SIIT ::ffff:0:0/96 */
    if (a[0] == 0x20 && a[1] == 0x02) return classify_v4(a + 2); /* 6to4 */
    if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0 && a[5] == 1)
        return "reserved"; /* local-use NAT64 64:ff9b:1::/48: the IPv4 part is not at a fixed place */
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0)
        return "reserved"; /* Teredo 2001::/32: tunnels to an IPv4 address */
    if (memcmp(a, zero, 12) == 0) return "reserved"; /* IPv4-compatible (deprecated) */
    if ((a[0] & 0xfe) == 0xfc) return "unique-local";         /* fc00::/7 */
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return "link-local"; /* fe80::/10 */
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return "private"; /* site-local */
    if (a[0] == 0xff) return "multicast";
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
        return "reserved";                                     /* documentation */
    if (a[0] == 0x01 && a[1] == 0x00 && memcmp(a + 2, zero, 6) == 0)
        return "reserved";                                     /* discard 100::/64 */
    return NULL;
}

const char *ch_ssrf_classify(const struct sockaddr *sa, size_t salen)
{
    uint8_t a[16];
    if (to_v6(sa, salen, a, NULL) < 0) return "unsupported-family";
    return classify_v6(a);
}

int ch_ssrf_rule_parse(const char *text, ch_ssrf_rule *out)
{
    if (!text || !out) return -1;
    size_t n = strnlen(text, 80);
    if (n == 0 || n >= 80) return -1;
    char buf[80];
    memcpy(buf, text, n + 1);

    long port = 0;
    long prefix = -1;
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
        char *p = slash + 1;
        char *colon = strchr(p, ':');
        if (colon) {
            *colon = '\0';
            char *end;
            if (!colon[1]) return -1;
            port = strtol(colon + 1, &end, 10);
            if (*end || port < 1 || port > 65535) return -1;
        }
        char *end;
        if (!*p) return -1;
        prefix = strtol(p, &end, 10);
        if (*end || prefix < 0) return -1;
    }

    memset(out, 0, sizeof *out);
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        if (prefix > 32) return -1;
        out->addr[10] = out->addr[11] = 0xff;
        memcpy(out->addr + 12, &v4, 4);
        out->prefix = (unsigned)(prefix < 0 ? 32 : prefix) + 96;
    } else if (inet_pton(AF_INET6, buf, &v6) == 1) {
        if (prefix > 128) return -1;
        memcpy(out->addr, &v6, 16);
        out->prefix = (unsigned)(prefix < 0 ? 128 : prefix);
    } else {
        return -1;
    }
    out->port = (uint16_t)port;
    return 0;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        port = ntohs(s4->sin_port);
        snprintf(out, cap, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        port = ntohs(s6->sin6_port);
        snprintf(out, cap, "[%s]:%u", ip, port);
    } else {
        snprintf(out, cap, "(family %d)", (int)sa->sa_family);
    }
}

int32_t ch_ssrf_check(int deny_private, const ch_ssrf_rule *allow,
                      size_t allow_count, const struct sockaddr *sa,
                      size_t salen, char *why, size_t whycap)
{
    uint8_t a[16];
    uint16_t port = 0;
    if (why && whycap) why[0] = '\0';
    if (to_v6(sa, salen, a, &port) < 0) {
        if (why && whycap) snprintf(why, whycap, "destination address family not allowed");
        return C360_EDENIED;
    }
    for (size_t i = 0; i < allow_count; i++)
        if (prefix_match(a, allow[i].addr, allow[i].prefix) &&
            (allow[i].port == 0 || allow[i].port == port))
            return C360_OK;
    if (!deny_private) return C360_OK;
    const char *cls = classify_v6(a);
    if (!cls) return C360_OK;
    if (why && whycap) {
        char at[INET6_ADDRSTRLEN + 16];
        addr_text(sa, at, sizeof at);
        snprintf(why, whycap, "destination %s is %s: not allowed for customer URLs", at, cls);
    }
    return C360_EDENIED;
}

/* The host of a URL as an address, without DNS: IPv4 in every form the
 * resolver accepts (inet_aton: "2130706433", "0x7f.1", "0177.0.0.1",
 * "127.1") and IPv6 (brackets and a zone id allowed). 0 if it is one. */
static int literal(const char *host, struct sockaddr_storage *ss, size_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    if (inet_aton(host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        *len = sizeof *s4;
        return 0;
    }
    char buf[64];
    size_t n = strlen(host);
    if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, host, n);
    buf[n] = '\0';
    char *zone = strchr(buf, '%');
    if (zone) *zone = '\0';
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, buf, &s6->sin6_addr) != 1) return -1;
    s6->sin6_family = AF_INET6;
    *len = sizeof *s6;
    return 0;
}

int32_t ch_ssrf_check_host(int deny_private, const ch_ssrf_rule *allow, size_t allow_count,
                           const char *host, uint16_t port, char *why, size_t whycap)
{
    if (why && whycap) why[0] = '\0';
    if (!host || !*host) return C360_OK;
    struct sockaddr_storage ss;
    size_t len;
    if (literal(host, &ss, &len) == 0) {
        if (ss.ss_family == AF_INET) ((struct sockaddr_in *)&ss)->sin_port = htons(port);
        else ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
        return ch_ssrf_check(deny_private, allow, allow_count, (struct sockaddr *)&ss, len, why,
                             whycap);
    }
    /* RFC 6761: localhost and every name under it are loopback, whatever
     * DNS says (curl resolves them so without asking). Other names are
     * judged at connect time, on the address they resolve to then. */
    size_t n = strlen(host);
    if (host[n - 1] == '.') n--;
    int local = (n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
                (n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0);
    if (!local || !deny_private) return C360_OK;
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_port = htons(port)};
    lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sockaddr_in6 lo6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    lo6.sin6_addr = in6addr_loopback;
    /* Allowed only if the allowlist admits loopback in both families. */
    if (ch_ssrf_check(1, allow, allow_count, (struct sockaddr *)&lo, sizeof lo, NULL, 0) == C360_OK &&
        ch_ssrf_check(1, allow, allow_count, (struct sockaddr *)&lo6, sizeof lo6, NULL, 0) == C360_OK)
        return C360_OK;
    if (why && whycap)
        snprintf(why, whycap, "destination %.64s is loopback: not allowed for customer URLs", host);
    return C360_EDENIED;
}

int32_t ch_ssrf_check_url(int deny_private, const ch_ssrf_rule *allow, size_t allow_count,
                          const char *url, char *why, size_t whycap)
{
    if (why && whycap) why[0] = '\0';
    CURLU *u = curl_url();
    if (!u) return C360_ENOMEM;
    char *host = NULL, *port = NULL;
    int32_t rc = C360_OK;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        if (why && whycap) snprintf(why, whycap, "is not a valid URL");
        rc = C360_EINVAL;
    } else {
        long p = strtol(port, NULL, 10);
        rc = ch_ssrf_check_host(deny_private, allow, allow_count, host,
                                (uint16_t)(p > 0 && p < 65536 ? p : 0), why, whycap);
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}
