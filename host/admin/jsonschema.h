/* jsonschema.h -- a JSON Schema validator for plugin config schemas: a
 * SUBSET of draft 2020-12, the part config forms need.
 *
 * Supported (assertions):
 *   type (a name or an array of names; "integer" also accepts a number
 *     with no fractional part, 1.0), enum, const (numbers compare by
 *     value: 1 equals 1.0),
 *   objects: properties, required, additionalProperties (boolean or a
 *     schema; applies to the members "properties" does not name),
 *     minProperties, maxProperties,
 *   arrays: items (one schema for every item), minItems, maxItems,
 *     uniqueItems,
 *   strings: minLength, maxLength (counted in Unicode code points),
 *     pattern (a POSIX extended regular expression, regcomp(3) with
 *     REG_EXTENDED, unanchored as in JSON Schema -- NOT ECMA-262: no \d,
 *     no lookaround; write [0-9]), format "uri" and "email" (light checks:
 *     a scheme and no spaces; one '@' with a dotted domain); other formats
 *     are annotations,
 *   numbers: minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers,
 *     as in 2020-12), multipleOf,
 *   composition: allOf, anyOf, oneOf, not, $ref to a local JSON Pointer
 *     ("#/$defs/name", "#"),
 *   boolean schemas (true / false).
 * Ignored (annotations): $schema, $id, $comment, $defs (reached through
 * $ref), title, description, default (never applied), examples,
 * deprecated, readOnly, writeOnly, other formats, unknown keywords.
 * Refused (the schema is reported broken rather than half-applied):
 * prefixItems, patternProperties, propertyNames, contains, minContains,
 * maxContains, if/then/else, dependentRequired, dependentSchemas,
 * dependencies, unevaluatedItems, unevaluatedProperties, $dynamicRef,
 * $recursiveRef, a non-local $ref, an array "items" (draft 4 tuples).
 *
 * Bounded: instance and schema nesting (CH_JS_MAX_DEPTH), $ref chains
 * without descending into the instance (a cycle), the number of errors
 * (CH_JS_MAX_ERRORS) and the work of one validation (CH_JS_MAX_STEPS
 * keyword evaluations; anyOf / oneOf can multiply it).
 *
 * A schema the validator cannot use (a keyword of the wrong type, a bad
 * regular expression, a dangling $ref, an unsupported keyword) is never a
 * crash: ch_jschema_check and ch_jschema_validate report it as a schema
 * error (-1 with a message), which the admin API turns into a refusal
 * naming the plugin's schema. Thread-safe: no global state. */
#ifndef CH_JSONSCHEMA_H
#define CH_JSONSCHEMA_H

#include <stddef.h>

#include <jansson.h>

#define CH_JS_MAX_DEPTH 32      /* nesting of the instance and the schema */
#define CH_JS_MAX_ERRORS 50     /* errors reported per validation */
#define CH_JS_MAX_STEPS 200000  /* keyword evaluations per validation */
#define CH_JS_PATH_MAX 1024     /* bytes of one error path */

/* Checks that the validator can apply `schema` (an object or a boolean):
 * 0, or -1 with the reason in err (e.g. "/properties/x/pattern: bad
 * regular expression"). */
int ch_jschema_check(const json_t *schema, char *err, size_t cap);

/* Validates instance against schema. Each error is appended to `errors`
 * (a JSON array) as {"path": prefix + JSON Pointer of the instance,
 * "message": "..."}; prefix may be "" or e.g. "/config". Returns the
 * number of errors appended (0 = valid; at most CH_JS_MAX_ERRORS + 1, the
 * last one then saying that more were left out), or -1 when the schema
 * is unusable (reason in err; errors may hold what was found before). */
int ch_jschema_validate(const json_t *schema, const json_t *instance, const char *prefix,
                        json_t *errors, char *err, size_t cap);

#endif
