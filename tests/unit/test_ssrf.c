/* test_ssrf -- the SSRF address policy (ssrf.h): classification of every
 * special range, IPv4-mapped and other IPv4-carrying IPv6 forms, allowlist
 * rules with and without ports; the early check of configured URLs
 * (decimal, octal, hex and short IPv4, IPv6 literals, localhost names);
 * and, through the real outbound HTTP service (httpc), the same URLs
 * refused at connect time, on the address actually connected to (so a
 * name that resolves to a private address is refused whatever it looked
 * like at validation: DNS rebinding). The connect-time part sends no
 * packet: every address is first shown refused by the pure check, and the
 * refusal happens before the socket exists. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"
#include "httpc.h"
#include "ssrf.h"
#include "call.h"

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

/* Every textual form of a forbidden address a URL can carry. */
static const char *const k_forbidden_urls[] = {
    "http://127.0.0.1/", "http://127.1/", "http://2130706433/", "http://0x7f000001/",
    "http://0177.0.0.1/", "http://0x7f.0.0.1/", "http://017700000001/",
    "http://10.0.0.1/", "http://10.1/", "http://167772161/", "http://0xa000001/",
    "http://172.16.0.1/", "http://172.31.255.255/", "http://192.168.0.1/", "http://3232235521/",
    "http://100.64.0.1/", "http://169.254.169.254/latest/meta-data/", "http://2852039166/",
    "http://0xa9fea9fe/", "http://0251.0376.0251.0376/", "http://0.0.0.0/", "http://0/",
    "http://[::1]/", "http://[0:0:0:0:0:0:0:1]/", "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/", "http://[::ffff:169.254.169.254]/", "http://[::ffff:10.0.0.1]/",
    "http://[fc00::1]/", "http://[fd12:3456::1]/", "http://[fe80::1]/", "http://[fe80::1%25eth0]/",
    "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:a9fe:a9fe::]/", "http://[::]/",
    "https://localhost/", "http://LOCALHOST:8080/", "http://localhost./", "http://api.localhost/",
    "https://127.0.0.1:8443/x?y=1", NULL};

static void test_literals(void)
{
    char why[200];
    for (int i = 0; k_forbidden_urls[i]; i++) {
        check_count++;
        if (ch_ssrf_check_url(1, NULL, 0, k_forbidden_urls[i], why, sizeof why) != C360_EDENIED) {
            check_failures++;
            fprintf(stderr, "config check let %s through\n", k_forbidden_urls[i]);
        }
    }
    CHECK(ch_ssrf_check_url(1, NULL, 0, "http://0x7f000001:8080/", why, sizeof why) == C360_EDENIED);
    CHECK_CONTAINS(why, "127.0.0.1:8080 is loopback");
    CHECK(ch_ssrf_check_url(1, NULL, 0, "http://api.localhost/", why, sizeof why) == C360_EDENIED);
    CHECK_CONTAINS(why, "is loopback");
    /* Public addresses and names pass (names are judged at connect time). */
    const char *ok[] = {"https://8.8.8.8/", "https://134744072/", "https://[2606:4700::1111]/",
                        "https://crm.example.com/hooks", "https://localhost.example.com/",
                        "https://mylocalhost/", "https://10.0.0.1.nip.io/", NULL};
    for (int i = 0; ok[i]; i++) {
        check_count++;
        if (ch_ssrf_check_url(1, NULL, 0, ok[i], why, sizeof why) != C360_OK) {
            check_failures++;
            fprintf(stderr, "config check refused %s: %s\n", ok[i], why);
        }
    }
    /* deny_private off, or the allowlist, let them through; a port-bound
     * rule only on its port (the scheme's default port counts). */
    CHECK(ch_ssrf_check_url(0, NULL, 0, "http://169.254.169.254/", why, sizeof why) == C360_OK);
    ch_ssrf_rule r[2];
    CHECK(ch_ssrf_rule_parse("127.0.0.1/32:443", &r[0]) == 0);
    CHECK(ch_ssrf_check_url(1, r, 1, "https://2130706433/", why, sizeof why) == C360_OK);
    CHECK(ch_ssrf_check_url(1, r, 1, "http://2130706433/", why, sizeof why) == C360_EDENIED);
    /* localhost needs loopback allowed in both families. */
    CHECK(ch_ssrf_check_url(1, r, 1, "https://localhost/", why, sizeof why) == C360_EDENIED);
    CHECK(ch_ssrf_rule_parse("::1/128:443", &r[1]) == 0);
    CHECK(ch_ssrf_check_url(1, r, 2, "https://localhost/", why, sizeof why) == C360_OK);
    CHECK(ch_ssrf_check_url(1, NULL, 0, "not a url", why, sizeof why) == C360_EINVAL);
    CHECK(ch_ssrf_check_host(1, NULL, 0, "", 80, why, sizeof why) == C360_OK);
}

/* The policy where it matters: the connection curl is about to open. */
static void test_connect_time(void)
{
    char err[256];
    CHECK(ch_httpc_configure(NULL, err, sizeof err) == C360_OK); /* the default policy */
    for (int i = 0; k_forbidden_urls[i]; i++) {
        const char *u = k_forbidden_urls[i];
        /* Never let a broken policy send a packet: the early check must
         * have refused it already (test_literals). */
        if (ch_ssrf_check_url(1, NULL, 0, u, err, sizeof err) != C360_EDENIED) continue;
        c360_http_request rq = {.struct_size = sizeof rq, .method = "GET", .url = u,
                                .flags = C360_HTTP_CUSTOMER_URL, .timeout_ms = 2000};
        c360_http_response *resp = NULL;
        int64_t t0 = ch_monotonic_ms();
        int32_t st = ch_httpc_request(&rq, &resp, err, sizeof err);
        check_count++;
        /* EDENIED; or EINVAL/EIO where curl itself will not connect (a zone
         * id on a machine without that interface, ::). Never a response. */
        if ((st != C360_EDENIED && st != C360_EIO && st != C360_EINVAL) || resp ||
            ch_monotonic_ms() - t0 > 1500) {
            check_failures++;
            fprintf(stderr, "connect-time: %s -> %d (%s)\n", u, st, err);
        }
        if (st == C360_EDENIED) CHECK(strstr(err, "not allowed for customer URLs") != NULL);
        ch_http_response_free(resp);
    }
    /* A name resolved by the system: refused on the address it resolved
     * to, not on its spelling. */
    c360_http_request rq = {.struct_size = sizeof rq, .method = "GET",
                            .url = "http://localhost:9/", .flags = C360_HTTP_CUSTOMER_URL};
    c360_http_response *resp = NULL;
    CHECK(ch_httpc_request(&rq, &resp, err, sizeof err) == C360_EDENIED && resp == NULL);
    CHECK_CONTAINS(err, "is loopback");
    ch_httpc_thread_close();
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
        {"::ffff:192.168.1.1", "private"}, {"::ffff:100.64.0.1", "cgnat"},
        {"::ffff:172.16.0.1", "private"}, {"::ffff:0.0.0.0", "unspecified"},
        {"::ffff:0:a9fe:a9fe", "link-local"}, /* SIIT IPv4-translated */
        {"::ffff:0:808:808", NULL},
        {"64:ff9b:1::a9fe:a9fe", "reserved"}, /* local-use NAT64 */
        {"2001:0:4136:e378::1", "reserved"},  /* Teredo */
        {"fd00:ec2::254", "unique-local"},     /* the IPv6 metadata address */
        {"fe80::a9fe:a9fe", "link-local"},
        {"100.63.255.255", NULL}, {"172.16.0.0", "private"}, {"192.168.255.255", "private"},
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

    test_literals();
    test_connect_time();
    CHECK_DONE();
}
