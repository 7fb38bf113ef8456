/* dsr.h -- data-subject requests: find, export or erase what a tenant's
 * retained data holds about one person, named by e-mail address and/or
 * phone number (docs/api/data-subject.md).
 *
 * Where a tenant keeps personal data (every value of every item is
 * searched; see docs/api/data-subject.md for why the other keys are not):
 *   records        c360:{t:T}:dl             delivery stream: the record
 *                                            JSON (r), its id (ri), ...
 *   raw_events     c360:{t:T}:ev             event stream: headers (h),
 *                                            raw body (b), ...
 *   dead_letters   c360:{t:T}:dlq            failed events and deliveries
 *                                            with their error (err)
 *   delivery_log   c360:{t:T}:dlog:<c>       per destination: record id,
 *                                            error excerpt
 *   sync_log       c360:{t:T}:synclog:<c>    per connection: error excerpt
 *   errors         c360:{t:T}:conn:<c>:stat  last_err of each connection
 *   state          c360:{t:T}:state:<c>:<k>  plugins' stored values
 *
 * Matching. A value that parses as JSON is walked: every string (object
 * keys too) and every integer is a value. Anything else (a form-encoded or
 * text body, an error message) is searched as text, as it is and
 * URL-decoded. An e-mail address matches case-insensitively wherever it
 * appears as a whole address ("Ann <ANN@x.org>" holds ann@x.org;
 * "joann@x.org" does not). A phone number matches on its digits: a run of
 * digits and the usual separators (space + - ( ) . /) whose digits -- or
 * a whole-group part of them -- equal the query's ("+1 (555) 010-0000" ==
 * "15550100000"). Binary values are searched as bytes.
 *
 * Bounds. One call examines at most opts.scan_max items (stream entries,
 * hashes, keys); when it stops early the report says "truncated": true and
 * carries a "next_cursor" to pass back to go on. Exports include at most
 * opts.items_max items per place and opts.bytes_max bytes of content in
 * all (items past that are listed without content, "content_omitted").
 *
 * Erase removes what matched: XDEL of stream entries (an entry of a work
 * stream still being worked on is also acknowledged and dropped from the
 * retry, attempt and crash keys, so no worker picks it up again), HDEL of
 * last_err, DEL of state keys. BLOCKS on Redis: admin threads only. */
#ifndef CH_DSR_H
#define CH_DSR_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CH_DSR_EMAIL_MAX 254
#define CH_DSR_PHONE_MAX 40          /* as typed */
#define CH_DSR_PHONE_DIGITS_MIN 6
#define CH_DSR_PHONE_DIGITS_MAX 20
#define CH_DSR_CURSOR_MAX 160

#define CH_DSR_SCAN_MAX_DEFAULT 200000
#define CH_DSR_ITEMS_MAX_DEFAULT 1000
#define CH_DSR_BYTES_MAX_DEFAULT (16u * 1024 * 1024)

typedef struct ch_dsr_subject {
    char email[CH_DSR_EMAIL_MAX + 1];   /* lower-cased; "" = none */
    char phone[CH_DSR_PHONE_DIGITS_MAX + 1]; /* digits only; "" = none */
} ch_dsr_subject;

/* Fills s from what a caller typed (either may be NULL or ""; at least one
 * must be given). Returns 0, or -1 with the JSON field ("email" or
 * "phone") in *field and the reason in why. */
int ch_dsr_subject_parse(const char *email, const char *phone, ch_dsr_subject *s,
                         const char **field, char *why, size_t whycap);

/* A stable reference to the subject for audit entries, without the
 * address or number itself: "subject:" + 16 hex of SHA-256 over the
 * normalised query. out >= 32 bytes. */
void ch_dsr_subject_ref(const ch_dsr_subject *s, char *out, size_t cap);

typedef struct ch_dsr_opts {
    int erase;               /* 0 export, 1 erase */
    size_t scan_max;         /* 0 = CH_DSR_SCAN_MAX_DEFAULT */
    size_t items_max;        /* 0 = CH_DSR_ITEMS_MAX_DEFAULT (per place) */
    size_t bytes_max;        /* 0 = CH_DSR_BYTES_MAX_DEFAULT */
    const char *cursor;      /* NULL/"" = from the start */
} ch_dsr_opts;

/* Runs a request. C360_OK with *report:
 *   {"subject":{"email":..|null,"phone":..|null},
 *    "found" (export) | "removed" (erase): {"records":[...],
 *        "raw_events":[...],"dead_letters":[...],"delivery_log":[...],
 *        "sync_log":[...],"errors":[...],"state":[...]},
 *    "counts":{<same names>: n, ...},
 *    "searched":[<the places, as key patterns>],
 *    "scanned": n, "truncated": bool, "next_cursor": ".."|null}
 * C360_EINVAL (bad tenant or cursor), C360_EIO (Redis failed). */
int32_t ch_dsr_run(const char *tenant, const ch_dsr_subject *s, const ch_dsr_opts *o,
                   json_t **report);

/* ---- matching (dsr_match.c), exposed for tests ----------------------------- */

/* 1 if the text (n bytes, any bytes) holds the subject. */
int ch_dsr_match_text(const ch_dsr_subject *s, const char *text, size_t n);
/* 1 if any value of the JSON (strings, object keys, integers) holds it. */
int ch_dsr_match_json(const ch_dsr_subject *s, const json_t *j);
/* A stored value: JSON walked when it parses as an object or array, else
 * text (as is and URL-decoded). */
int ch_dsr_match_value(const ch_dsr_subject *s, const char *v, size_t n);

#endif
