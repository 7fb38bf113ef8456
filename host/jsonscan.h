/* jsonscan.h -- a non-allocating check that a buffer is one JSON object,
 * and a decoder of the flat string objects events' headers are stored as.
 *
 * The worker must refuse a record that is not a well-formed JSON object
 * (records.h), and parsing every record with Jansson only to throw the tree
 * away cost about a tenth of a worker's instructions per lead (callgrind,
 * bench/run_lead_e2e.sh). ch_jsonscan_object() walks the bytes once instead.
 *
 * It is deliberately conservative: it answers CH_JSONSCAN_OBJECT only for a
 * subset of JSON that Jansson is known to accept (objects, arrays, strings
 * of valid UTF-8 with the simple escapes, integers and decimals of at most
 * 15 digits, true/false/null, nesting up to CH_JSONSCAN_DEPTH), and
 * CH_JSONSCAN_UNSURE for anything else -- \u escapes, exponents, long
 * numbers, deep nesting, and every malformed input -- so that the caller
 * falls back to the full parser, which gives the final answer. A fast
 * "yes" is therefore always a yes Jansson would give. */
#ifndef CH_JSONSCAN_H
#define CH_JSONSCAN_H

#include <stddef.h>

#define CH_JSONSCAN_DEPTH 64

typedef enum ch_jsonscan_result {
    CH_JSONSCAN_UNSURE = 0, /* ask the full parser */
    CH_JSONSCAN_OBJECT = 1  /* one JSON object, surrounded by whitespace only */
} ch_jsonscan_result;

ch_jsonscan_result ch_jsonscan_object(const char *buf, size_t len);

/* The stored headers of an event (ingress_headers.c writes them): a flat
 * object of plain strings, {"name":"value",...}, no whitespace. When buf is
 * exactly that -- every name and value printable ASCII without '"' or
 * '\\', no name twice, at most max members -- the members are decoded
 * without a tree: copy (len + 1 bytes, the caller's) gets the bytes, each
 * name and value NUL-terminated in place, names[i] and values[i] point
 * into it, *n is their number, and the answer is CH_JSONSCAN_OBJECT, in
 * the document's order, as Jansson would give them. Anything else --
 * escapes, other bytes, whitespace, other values, a repeated name, more
 * than max -- is CH_JSONSCAN_UNSURE (*n then means nothing): the caller
 * parses with Jansson. A worker did that for every event it ran, and for
 * the look ahead's events once more. */
ch_jsonscan_result ch_jsonscan_flat(const char *buf, size_t len, char *copy, const char **names,
                                    const char **values, size_t max, size_t *n);

#endif
