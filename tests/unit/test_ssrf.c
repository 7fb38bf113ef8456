/* test_ssrf -- the SSRF address policy (ssrf.h): classification of every
 * special range, IPv4-mapped and other IPv4-carrying IPv6 forms, allowlist
 * rules with and without ports. Pure functions: no network. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"
#include "ssrf.h"

static socklen_t mk(const char *ip, unsigned port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        return sizeof *s4;
    }
    if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        return sizeof *s6;
    }
    fprintf(stderr, "bad test address %s\n", ip);
    return 0;
}

static const char *cls(const char *ip)
{
    struct sockaddr_storage ss;
    socklen_t n = mk(ip, 80, &ss);
    return ch_ssrf_classify((struct sockaddr *)&ss, n);
}

static int32_t check(int deny, const ch_ssrf_rule *allow, size_t n, const char *ip,
                     unsigned port, char *why, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = mk(ip, port, &ss);
    return ch_ssrf_check(deny, allow, n, (struct sockaddr *)&ss, len, why, cap);
}

int main(void)
{
    /* Every forbidden class, with a boundary on each side where it matters. */
    static const struct { const char *ip, *want; } t[] = {
        {"10.0.0.1", "private"}, {"10.255.255.255", "private"},
        {"172.16.0.1", "private"}, {"172.31.255.254", "private"},
        {"172.15.255.255", NULL}, {"172.32.0.1", NULL},
        {"192.168.1.1", "private"}, {"192.169.0.1", NULL},
        {"127.0.0.1", "loopback"}, {"127.255.0.9", "loopback"},
        {"169.254.169.254", "link-local"}, {"169.254.0.1", "link-local"},
        {"0.0.0.0", "unspecified"}, {"0.1.2.3", "unspecified"},
        {"100.64.0.1", "cgnat"}, {"100.127.255.255", "cgnat"}, {"100.128.0.1", NULL},
        {"224.0.0.1", "multicast"}, {"239.255.255.250", "multicast"},
        {"255.255.255.255", "broadcast"}, {"240.0.0.1", "reserved"},
        {"192.0.2.5", "reserved"}, {"198.18.0.1", "reserved"},
        {"8.8.8.8", NULL}, {"93.184.216.34", NULL}, {"1.1.1.1", NULL},
        {"::", "unspecified"}, {"::1", "loopback"},
        {"fc00::1", "unique-local"}, {"fdff:ffff::1", "unique-local"},
        {"fe80::1", "link-local"}, {"febf::1", "link-local"},
        {"ff02::1", "multicast"}, {"2001:db8::1", "reserved"},
        {"2606:4700::1111", NULL}, {"2a00:1450:4001::200e", NULL},
        /* IPv4 hidden in IPv6: judged by the IPv4 address. */
        {"::ffff:127.0.0.1", "loopback"}, {"::ffff:169.254.169.254", "link-local"},
        {"::ffff:10.1.2.3", "private"}, {"::ffff:8.8.8.8", NULL},
        {"64:ff9b::a9fe:a9fe", "link-local"}, /* NAT64 of 169.254.169.254 */
        {"2002:7f00:1::", "loopback"},        /* 6to4 of 127.0.0.1 */
        {"::127.0.0.1", "reserved"},          /* deprecated IPv4-compatible */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *got = cls(t[i].ip);
        check_count++;
        if ((got == NULL) != (t[i].want == NULL) || (got && strcmp(got, t[i].want) != 0)) {
            check_failures++;
            fprintf(stderr, "classify %s = %s, want %s\n", t[i].ip, got ? got : "public",
                    t[i].want ? t[i].want : "public");
        }
    }

    /* Non-IP families are refused, not waved through. */
    struct sockaddr sa = {.sa_family = AF_UNIX};
    CHECK_STR(ch_ssrf_classify(&sa, sizeof sa), "unsupported-family");
    char why[200];
    CHECK(ch_ssrf_check(1, NULL, 0, &sa, sizeof sa, why, sizeof why) == C360_EDENIED);
    CHECK(ch_ssrf_check(0, NULL, 0, &sa, sizeof sa, why, sizeof why) == C360_EDENIED);

    /* The check: denied with a reason naming address and class; public ok. */
    CHECK(check(1, NULL, 0, "169.254.169.254", 80, why, sizeof why) == C360_EDENIED);
    CHECK_CONTAINS(why, "169.254.169.254:80");
    CHECK_CONTAINS(why, "link-local");
    CHECK(check(1, NULL, 0, "::1", 8080, why, sizeof why) == C360_EDENIED);
    CHECK_CONTAINS(why, "[::1]:8080");
    CHECK(check(1, NULL, 0, "8.8.8.8", 443, why, sizeof why) == C360_OK);
    CHECK(check(0, NULL, 0, "127.0.0.1", 443, why, sizeof why) == C360_OK);

    /* Rules: parse forms, reject garbage. */
    ch_ssrf_rule r[4];
    CHECK(ch_ssrf_rule_parse("127.0.0.1/32:8080", &r[0]) == 0);
    CHECK(r[0].port == 8080 && r[0].prefix == 128);
    CHECK(ch_ssrf_rule_parse("10.0.0.0/8", &r[1]) == 0);
    CHECK(r[1].port == 0 && r[1].prefix == 104);
    CHECK(ch_ssrf_rule_parse("::1/128:443", &r[2]) == 0);
    CHECK(r[2].port == 443 && r[2].prefix == 128);
    CHECK(ch_ssrf_rule_parse("fd00::", &r[3]) == 0);
    CHECK(r[3].prefix == 128);
    ch_ssrf_rule bad;
    const char *bads[] = {"", "localhost", "10.0.0.0/33", "::1/129", "10.0.0.0/8:0",
                          "10.0.0.0/8:70000", "10.0.0.0/", "10.0.0.0/8:", "10.0.0.0/x",
                          "1.2.3.4/-1", "1.2.3", NULL};
    for (int i = 0; bads[i]; i++) {
        check_count++;
        if (ch_ssrf_rule_parse(bads[i], &bad) == 0) {
            check_failures++;
            fprintf(stderr, "rule \"%s\" was accepted\n", bads[i]);
        }
    }
    CHECK(ch_ssrf_rule_parse(NULL, &bad) < 0);

    /* Allowlist: port-bound rule admits only its port; CIDR admits the
     * range, and only the range; IPv4 rules match IPv4-mapped IPv6. */
    CHECK(check(1, r, 1, "127.0.0.1", 8080, why, sizeof why) == C360_OK);
    CHECK(check(1, r, 1, "127.0.0.1", 8081, why, sizeof why) == C360_EDENIED);
    CHECK(check(1, r, 1, "::ffff:127.0.0.1", 8080, why, sizeof why) == C360_OK);
    CHECK(check(1, r + 1, 1, "10.200.3.4", 1, why, sizeof why) == C360_OK);
    CHECK(check(1, r + 1, 1, "11.0.0.1", 1, why, sizeof why) == C360_OK); /* public anyway */
    CHECK(check(1, r + 1, 1, "192.168.0.1", 1, why, sizeof why) == C360_EDENIED);
    CHECK(check(1, r + 2, 1, "::1", 443, why, sizeof why) == C360_OK);
    CHECK(check(1, r + 2, 1, "::1", 80, why, sizeof why) == C360_EDENIED);
    ch_ssrf_rule host_bits;
    CHECK(ch_ssrf_rule_parse("192.168.7.99/24", &host_bits) == 0);
    CHECK(check(1, &host_bits, 1, "192.168.7.1", 80, why, sizeof why) == C360_OK);
    CHECK(check(1, &host_bits, 1, "192.168.8.1", 80, why, sizeof why) == C360_EDENIED);

    CHECK_DONE();
}
