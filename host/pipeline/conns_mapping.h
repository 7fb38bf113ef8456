/* conns_mapping.h -- field mappings of routes (conns.h ch_conn_route_put).
 *
 * A mapping is a JSON object: target field -> rule, where a rule is
 *     {"from": "/json/pointer"}   the value at that pointer of the record
 *                                 (RFC 6901; "" = the whole record)
 *     {"const": <any JSON>}       a fixed value
 * and a target is a field name, or a dotted path "a.b.c" that builds
 * nested objects. Applied to a record, it gives a new object holding only
 * the mapped fields; a "from" that finds nothing leaves its target out.
 *
 *     {"email": {"from": "/contact/email"}, "meta.source": {"const": "meta"}}
 *     on {"contact": {"email": "x@y.z"}}  gives
 *     {"email": "x@y.z", "meta": {"source": "meta"}}
 *
 * Limits: CH_MAPPING_TARGETS_MAX targets, targets of 1..200 bytes without
 * control characters and without empty segments, pointers of at most 1024
 * bytes; no target may be a prefix of another ("a" and "a.b"). */
#ifndef CH_CONNS_MAPPING_H
#define CH_CONNS_MAPPING_H

#include <stddef.h>

#include <jansson.h>

#define CH_MAPPING_TARGETS_MAX 200
#define CH_MAPPING_TARGET_MAX 200
#define CH_MAPPING_POINTER_MAX 1024

/* Checks a mapping; appends {"path": prefix + "/<target>[/from|/const]",
 * "message"} to details for each problem and returns how many. */
size_t ch_mapping_check(const json_t *mapping, const char *prefix, json_t *details);

/* The record as the mapping shapes it (a new object), or NULL when the
 * record is not an object or the mapping is not valid. */
json_t *ch_mapping_apply(const json_t *mapping, const json_t *record);

#endif
