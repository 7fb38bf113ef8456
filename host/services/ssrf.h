/* ssrf.h -- the outbound destination policy for customer-supplied URLs.
 *
 * A customer can type any URL into a destination (a CRM webhook, an
 * "instance URL"). Without a policy, c360d would fetch
 * http://169.254.169.254/ (cloud credentials) or http://10.0.0.5:6379/ (our
 * own Redis) on their behalf. The policy is applied to the address a socket
 * is about to connect to -- after DNS -- because a name can resolve to
 * anything (and differently the second time: DNS rebinding). httpc.c calls
 * ch_ssrf_check() from curl's open-socket hook for requests flagged
 * C360_HTTP_CUSTOMER_URL.
 *
 * Pure functions, no I/O (not even DNS), thread-safe. */
#ifndef CH_SSRF_H
#define CH_SSRF_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "connector_api.h"

/* One allowlist entry: a CIDR and optionally one port (0 = any). Addresses
 * are kept in IPv6 form (IPv4 as ::ffff:a.b.c.d, prefix + 96) so one
 * comparison covers both families. */
typedef struct ch_ssrf_rule {
    uint8_t addr[16];
    unsigned prefix;  /* 0..128, in the IPv6 form */
    uint16_t port;    /* 0 = any port */
} ch_ssrf_rule;

/* Parses "ADDR", "ADDR/PREFIX" or "ADDR/PREFIX:PORT", for example
 * "127.0.0.1/32:8080", "10.0.0.0/8", "::1/128:443". (The prefix length
 * never holds a ':', so the port after it is unambiguous for IPv6 too; a
 * port needs an explicit prefix.) Host bits beyond the prefix are ignored.
 * Returns 0, or -1 for a malformed rule. */
int ch_ssrf_rule_parse(const char *text, ch_ssrf_rule *out);

/* Why an address is not a public unicast destination, or NULL if it is:
 * "loopback", "private", "link-local" (incl. the 169.254.169.254 metadata
 * service), "unspecified", "cgnat", "multicast", "broadcast", "reserved",
 * "unique-local", "ipv4-mapped ..." variants are classified by the mapped
 * IPv4 address. Only AF_INET and AF_INET6 are understood; other families
 * return "unsupported-family". */
const char *ch_ssrf_classify(const struct sockaddr *sa, size_t salen);

/* The whole check: C360_OK when a connection to sa may be opened,
 * C360_EDENIED otherwise with a human-readable reason in why (address and
 * class; never a URL). An allowlist match permits even a private address;
 * deny_private 0 permits everything. */
int32_t ch_ssrf_check(int deny_private, const ch_ssrf_rule *allow,
                      size_t allow_count, const struct sockaddr *sa,
                      size_t salen, char *why, size_t whycap);

/* The same decision made early, without DNS, for validating a configured
 * URL: the host if it is an address in any textual form (decimal, octal,
 * hex and short IPv4 such as "2130706433" or "127.1"; IPv6 with brackets),
 * and "localhost" or a name under it. Other names pass: they are judged at
 * connect time on the address they resolve to then (DNS can change).
 * port is the URL's port (its scheme's default if none), for port-bound
 * allowlist rules. */
int32_t ch_ssrf_check_host(int deny_private, const ch_ssrf_rule *allow,
                           size_t allow_count, const char *host, uint16_t port,
                           char *why, size_t whycap);
/* ch_ssrf_check_host on the host and port of an http(s) URL (parsed as
 * curl parses it); C360_EINVAL if it does not parse. */
int32_t ch_ssrf_check_url(int deny_private, const ch_ssrf_rule *allow,
                          size_t allow_count, const char *url, char *why,
                          size_t whycap);

#endif
