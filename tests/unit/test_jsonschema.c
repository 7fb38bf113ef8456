/* test_jsonschema.c -- the config-schema validator (jsonschema.h): every
 * supported keyword, error paths, bounds, and broken schemas that must be
 * reported rather than crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "jsonschema.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j) {
        fprintf(stderr, "bad test JSON: %s: %s\n", text, e.text);
        exit(2);
    }
    return j;
}

/* Number of errors of instance against schema (-1 = schema broken); the
 * errors array is kept in *out when out is non-NULL. */
static int run(const char *schema, const char *inst, json_t **out)
{
    json_t *s = J(schema), *i = J(inst), *errs = json_array();
    char err[256];
    int n = ch_jschema_validate(s, i, "/config", errs, err, sizeof err);
    json_decref(s);
    json_decref(i);
    if (out) *out = errs;
    else json_decref(errs);
    return n;
}

static int ok(const char *schema, const char *inst) { return run(schema, inst, NULL) == 0; }

static const char *first_path(json_t *errs)
{
    return json_string_value(json_object_get(json_array_get(errs, 0), "path"));
}

static int check_ok(const char *schema)
{
    json_t *s = J(schema);
    char err[256];
    int rc = ch_jschema_check(s, err, sizeof err);
    json_decref(s);
    return rc == 0;
}

static void test_types(void)
{
    CHECK(ok("{\"type\":\"string\"}", "\"x\""));
    CHECK(!ok("{\"type\":\"string\"}", "1"));
    CHECK(ok("{\"type\":\"integer\"}", "3"));
    CHECK(ok("{\"type\":\"integer\"}", "3.0"));
    CHECK(!ok("{\"type\":\"integer\"}", "3.5"));
    CHECK(ok("{\"type\":\"number\"}", "3"));
    CHECK(ok("{\"type\":\"number\"}", "3.5"));
    CHECK(!ok("{\"type\":\"number\"}", "\"3\""));
    CHECK(ok("{\"type\":\"null\"}", "null"));
    CHECK(ok("{\"type\":\"boolean\"}", "false"));
    CHECK(!ok("{\"type\":\"boolean\"}", "0"));
    CHECK(ok("{\"type\":\"array\"}", "[]"));
    CHECK(ok("{\"type\":\"object\"}", "{}"));
    CHECK(!ok("{\"type\":\"object\"}", "[]"));
    CHECK(ok("{\"type\":[\"string\",\"null\"]}", "null"));
    CHECK(ok("{\"type\":[\"string\",\"null\"]}", "\"a\""));
    json_t *e;
    CHECK(run("{\"type\":[\"string\",\"null\"]}", "1", &e) == 1);
    CHECK_CONTAINS(json_string_value(json_object_get(json_array_get(e, 0), "message")),
                   "string, null");
    CHECK_STR(first_path(e), "/config");
    json_decref(e);
    CHECK(ok("true", "{\"anything\":1}"));
    CHECK(!ok("false", "1"));
}

static void test_objects(void)
{
    const char *s = "{\"type\":\"object\",\"required\":[\"url\",\"n\"],"
                    "\"properties\":{\"url\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\"},"
                    "\"a/b~c\":{\"type\":\"string\"}},"
                    "\"additionalProperties\":false}";
    CHECK(ok(s, "{\"url\":\"x\",\"n\":1}"));
    json_t *e;
    CHECK(run(s, "{\"n\":1}", &e) == 1);
    CHECK_STR(first_path(e), "/config/url");
    CHECK_STR(json_string_value(json_object_get(json_array_get(e, 0), "message")), "is required");
    json_decref(e);
    CHECK(run(s, "{\"url\":\"x\",\"n\":1,\"extra\":2}", &e) == 1);
    CHECK_STR(first_path(e), "/config/extra");
    json_decref(e);
    CHECK(run(s, "{\"url\":\"x\",\"n\":1,\"a/b~c\":2}", &e) == 1);
    CHECK_STR(first_path(e), "/config/a~1b~0c"); /* JSON Pointer escapes */
    json_decref(e);
    CHECK(run(s, "{\"url\":5,\"n\":\"x\"}", &e) == 2);
    json_decref(e);
    /* additionalProperties as a schema */
    const char *m = "{\"properties\":{\"a\":{}},\"additionalProperties\":{\"type\":\"integer\"}}";
    CHECK(ok(m, "{\"a\":\"s\",\"b\":1}"));
    CHECK(run(m, "{\"a\":\"s\",\"b\":\"no\"}", &e) == 1);
    CHECK_STR(first_path(e), "/config/b");
    json_decref(e);
    CHECK(ok("{\"minProperties\":1,\"maxProperties\":2}", "{\"a\":1}"));
    CHECK(!ok("{\"minProperties\":1}", "{}"));
    CHECK(!ok("{\"maxProperties\":1}", "{\"a\":1,\"b\":2}"));
    /* keywords of another type do not apply */
    CHECK(ok("{\"required\":[\"x\"]}", "5"));
}

static void test_arrays(void)
{
    const char *s = "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"minLength\":1},"
                    "\"minItems\":1,\"maxItems\":3,\"uniqueItems\":true}";
    CHECK(ok(s, "[\"a\",\"b\"]"));
    CHECK(!ok(s, "[]"));
    CHECK(!ok(s, "[\"a\",\"b\",\"c\",\"d\"]"));
    json_t *e;
    CHECK(run(s, "[\"a\",\"\"]", &e) == 1);
    CHECK_STR(first_path(e), "/config/1");
    json_decref(e);
    CHECK(run(s, "[\"a\",\"a\"]", &e) == 1);
    CHECK_STR(first_path(e), "/config/1");
    json_decref(e);
    CHECK(!ok("{\"uniqueItems\":true}", "[1, 1.0]"));
    CHECK(!ok("{\"uniqueItems\":true}", "[{\"a\":[1]}, {\"a\":[1]}]"));
    CHECK(ok("{\"uniqueItems\":true}", "[{\"a\":[1]}, {\"a\":[2]}]"));
    CHECK(ok("{\"uniqueItems\":false}", "[1,1]"));
}

static void test_strings(void)
{
    /* code points, not bytes: "é" is 2 bytes, 1 character */
    CHECK(ok("{\"maxLength\":2}", "\"\xc3\xa9\xc3\xa9\""));
    CHECK(!ok("{\"maxLength\":1}", "\"\xc3\xa9\xc3\xa9\""));
    CHECK(ok("{\"minLength\":2}", "\"\xf0\x9f\x98\x80x\""));
    CHECK(!ok("{\"minLength\":3}", "\"\xf0\x9f\x98\x80x\""));
    /* POSIX ERE, unanchored unless anchored */
    CHECK(ok("{\"pattern\":\"[0-9]+\"}", "\"ab12\""));
    CHECK(!ok("{\"pattern\":\"^[0-9]+$\"}", "\"ab12\""));
    CHECK(ok("{\"pattern\":\"^[a-z]{2,3}$\"}", "\"abc\""));
    CHECK(!ok("{\"pattern\":\"^[a-z]{2,3}$\"}", "\"abcd\""));
    CHECK(ok("{\"format\":\"uri\"}", "\"https://example.com/x?y=1\""));
    CHECK(!ok("{\"format\":\"uri\"}", "\"not a uri\""));
    CHECK(!ok("{\"format\":\"uri\"}", "\"example.com\""));
    CHECK(ok("{\"format\":\"email\"}", "\"a@b.example\""));
    CHECK(!ok("{\"format\":\"email\"}", "\"a@b\""));
    CHECK(!ok("{\"format\":\"email\"}", "\"a@@b.c\""));
    CHECK(!ok("{\"format\":\"email\"}", "\"@b.c\""));
    CHECK(ok("{\"format\":\"date-time\"}", "\"whatever\"")); /* annotation */
    CHECK(ok("{\"format\":\"uri\"}", "5")); /* strings only */
}

static void test_numbers(void)
{
    CHECK(ok("{\"minimum\":1,\"maximum\":10}", "1"));
    CHECK(ok("{\"minimum\":1,\"maximum\":10}", "10"));
    CHECK(!ok("{\"minimum\":1}", "0"));
    CHECK(!ok("{\"maximum\":10}", "10.5"));
    CHECK(!ok("{\"exclusiveMinimum\":1}", "1"));
    CHECK(ok("{\"exclusiveMinimum\":1}", "1.01"));
    CHECK(!ok("{\"exclusiveMaximum\":1}", "1"));
    CHECK(ok("{\"exclusiveMaximum\":1}", "0"));
    CHECK(ok("{\"maximum\":9007199254740993}", "9007199254740993"));
    CHECK(!ok("{\"maximum\":9007199254740992}", "9007199254740993"));
    CHECK(ok("{\"multipleOf\":5}", "15"));
    CHECK(!ok("{\"multipleOf\":5}", "16"));
    CHECK(ok("{\"multipleOf\":0.1}", "0.3"));
    CHECK(!ok("{\"multipleOf\":0.1}", "0.35"));
}

static void test_enum_const(void)
{
    CHECK(ok("{\"enum\":[\"a\",1,null,{\"x\":[1]}]}", "\"a\""));
    CHECK(ok("{\"enum\":[\"a\",1,null,{\"x\":[1]}]}", "1.0"));
    CHECK(ok("{\"enum\":[\"a\",1,null,{\"x\":[1]}]}", "{\"x\":[1]}"));
    CHECK(!ok("{\"enum\":[\"a\",1,null]}", "\"b\""));
    CHECK(ok("{\"const\":\"v1\"}", "\"v1\""));
    CHECK(!ok("{\"const\":\"v1\"}", "\"v2\""));
    CHECK(!ok("{\"const\":false}", "0"));
    CHECK(ok("{\"default\":5,\"type\":\"string\"}", "\"x\"")); /* default ignored */
}

static void test_composition(void)
{
    const char *any = "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\",\"minimum\":0}]}";
    CHECK(ok(any, "\"s\""));
    CHECK(ok(any, "3"));
    CHECK(!ok(any, "-3"));
    const char *one = "{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":10}]}";
    CHECK(ok(one, "5"));
    CHECK(ok(one, "10.5"));
    CHECK(!ok(one, "12"));   /* both */
    CHECK(!ok(one, "9.5"));  /* neither */
    CHECK(ok("{\"allOf\":[{\"minimum\":1},{\"maximum\":3}]}", "2"));
    json_t *e;
    CHECK(run("{\"allOf\":[{\"minimum\":5},{\"maximum\":3}]}", "6", &e) == 1);
    json_decref(e);
    CHECK(run("{\"allOf\":[{\"minimum\":5},{\"multipleOf\":3}]}", "4", &e) == 2);
    json_decref(e);
    CHECK(ok("{\"not\":{\"type\":\"string\"}}", "1"));
    CHECK(!ok("{\"not\":{\"type\":\"string\"}}", "\"s\""));
    /* probes do not leak their errors into the result */
    CHECK(run("{\"properties\":{\"a\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}}}",
              "{\"a\":1}", &e) == 1);
    CHECK_STR(first_path(e), "/config/a");
    json_decref(e);
}

static void test_refs(void)
{
    const char *s = "{\"$defs\":{\"id\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"},"
                    "\"node\":{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#/$defs/node\"},"
                    "\"id\":{\"$ref\":\"#/$defs/id\"}}}},"
                    "\"$ref\":\"#/$defs/node\"}";
    CHECK(check_ok(s));
    CHECK(ok(s, "{\"id\":\"a\",\"next\":{\"id\":\"b\",\"next\":{}}}"));
    json_t *e;
    CHECK(run(s, "{\"id\":\"a\",\"next\":{\"id\":\"B\"}}", &e) == 1);
    CHECK_STR(first_path(e), "/config/next/id");
    json_decref(e);
    CHECK(check_ok("{\"properties\":{\"a\":{\"$ref\":\"#\"}}}"));
    CHECK(ok("{\"properties\":{\"a\":{\"$ref\":\"#\"}},\"type\":\"object\"}", "{\"a\":{\"a\":{}}}"));
    CHECK(!ok("{\"properties\":{\"a\":{\"$ref\":\"#\"}},\"type\":\"object\"}", "{\"a\":{\"a\":1}}"));
    CHECK(check_ok("{\"$defs\":{\"a~b\":{\"type\":\"string\"}},\"$ref\":\"#/$defs/a~0b\"}"));
}

static void test_broken_schemas(void)
{
    static const char *const bad[] = {
        "{\"type\":\"strng\"}",
        "{\"type\":[]}",
        "{\"type\":5}",
        "{\"minLength\":\"3\"}",
        "{\"minLength\":-1}",
        "{\"maxItems\":1.5}",
        "{\"pattern\":\"([a-z\"}",
        "{\"pattern\":5}",
        "{\"required\":\"x\"}",
        "{\"required\":[1]}",
        "{\"properties\":[]}",
        "{\"properties\":{\"a\":5}}",
        "{\"additionalProperties\":\"no\"}",
        "{\"items\":[{\"type\":\"string\"}]}",
        "{\"enum\":\"a\"}",
        "{\"anyOf\":[]}",
        "{\"oneOf\":{}}",
        "{\"not\":3}",
        "{\"$ref\":\"#/$defs/missing\"}",
        "{\"$ref\":\"https://example.com/schema\"}",
        "{\"exclusiveMinimum\":true}",
        "{\"multipleOf\":0}",
        "{\"uniqueItems\":1}",
        "{\"patternProperties\":{\"^x\":{}}}",
        "{\"if\":{},\"then\":{}}",
        "{\"prefixItems\":[{}]}",
        "{\"properties\":{\"deep\":{\"properties\":{\"x\":{\"pattern\":\"a{1\"}}}}}",
        "[]",
        "5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *s = J(bad[i]);
        char err[256] = "";
        int rc = ch_jschema_check(s, err, sizeof err);
        if (rc != -1) fprintf(stderr, "accepted a broken schema: %s\n", bad[i]);
        CHECK(rc == -1);
        CHECK(err[0] != '\0');
        json_decref(s);
    }
    /* The message names where: */
    json_t *s = J("{\"properties\":{\"deep\":{\"pattern\":\"(\"}}}");
    char err[256];
    CHECK(ch_jschema_check(s, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "/properties/deep");
    CHECK_CONTAINS(err, "pattern");
    /* The validator alone, on a broken schema: -1, no crash (it finds
     * what it visits: ch_jschema_check is the full check). */
    json_t *i = J("{\"deep\":\"x\"}"), *errs = json_array();
    CHECK(ch_jschema_validate(s, i, "", errs, err, sizeof err) == -1);
    json_decref(s);
    json_decref(i);
    json_decref(errs);
    const char *more[] = {"{\"minLength\":\"3\"}", "{\"type\":\"strng\"}",
                          "{\"$ref\":\"#/nope\"}", "{\"$ref\":\"#\"}",
                          "{\"allOf\":[{\"$ref\":\"#\"}]}"};
    for (size_t k = 0; k < sizeof more / sizeof more[0]; k++)
        CHECK(run(more[k], "\"x\"", NULL) == -1);
    /* annotations and unknown keywords are fine */
    CHECK(check_ok("{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
                   "\"title\":\"t\",\"description\":\"d\",\"x-ui\":{\"widget\":1},"
                   "\"default\":{},\"examples\":[1],\"$comment\":\"c\",\"format\":\"whatever\"}"));
}

/* A path cut in the middle of a multi-byte character still yields its
 * error, cut at a character boundary. */
static void test_utf8_cut(void)
{
    char key[3000];
    size_t n = 0;
    key[n++] = 'a'; /* one ASCII byte first: the cut then falls mid-character */
    while (n + 2 < sizeof key - 1) {
        key[n++] = (char)0xC3;
        key[n++] = (char)0xA9; /* e-acute */
    }
    key[n] = '\0';
    for (int shift = 0; shift < 2; shift++) {
        json_t *inst = json_object();
        const char *k = key + shift; /* with and without the ASCII byte */
        json_object_set_new(inst, k, json_integer(1));
        json_t *s = json_pack("{s:{s:{s:s}}}", "properties", k, "type", "string");
        json_t *errs = json_array();
        char err[256];
        int got = ch_jschema_validate(s, inst, "", errs, err, sizeof err);
        CHECK(got == 1);
        CHECK(json_array_size(errs) == 1);
        const char *path = json_string_value(json_object_get(json_array_get(errs, 0), "path"));
        CHECK(path && strlen(path) > 100);
        json_decref(errs);
        json_decref(s);
        json_decref(inst);
    }
}

static void test_bounds(void)
{
    /* error count capped, with a note */
    json_t *props = json_object(), *inst = json_object();
    for (int k = 0; k < 80; k++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", k);
        json_object_set_new(props, name, json_pack("{s:s}", "type", "string"));
        json_object_set_new(inst, name, json_integer(k));
    }
    json_t *s = json_pack("{s:o}", "properties", props), *errs = json_array();
    char err[256];
    int n = ch_jschema_validate(s, inst, "", errs, err, sizeof err);
    CHECK(n == CH_JS_MAX_ERRORS + 1);
    CHECK(json_array_size(errs) == CH_JS_MAX_ERRORS + 1);
    CHECK_CONTAINS(json_string_value(json_object_get(json_array_get(errs, CH_JS_MAX_ERRORS),
                                                     "message")), "left out");
    json_decref(errs);
    json_decref(s);
    json_decref(inst);
    /* exactly the cap: no note */
    props = json_object();
    inst = json_object();
    for (int k = 0; k < CH_JS_MAX_ERRORS; k++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", k);
        json_object_set_new(props, name, json_pack("{s:s}", "type", "string"));
        json_object_set_new(inst, name, json_integer(k));
    }
    s = json_pack("{s:o}", "properties", props);
    errs = json_array();
    CHECK(ch_jschema_validate(s, inst, "", errs, err, sizeof err) == CH_JS_MAX_ERRORS);
    json_decref(errs);
    json_decref(s);
    json_decref(inst);
    /* deep instance: nested past the cap is an error, not a stack overflow */
    char deep[4096] = "", tail[4096] = "";
    for (int k = 0; k < 100; k++) {
        strcat(deep, "{\"a\":");
        strcat(tail, "}");
    }
    strcat(deep, "1");
    strcat(deep, tail);
    CHECK(run("{\"$defs\":{\"n\":{\"properties\":{\"a\":{\"$ref\":\"#/$defs/n\"}}}},"
              "\"$ref\":\"#/$defs/n\"}", deep, NULL) >= 1);
    CHECK(ok("{\"type\":\"object\"}", deep)); /* nothing descends: fine */
    /* exponential composition is cut by the step budget */
    const char *boom = "{\"$defs\":{\"x\":{\"anyOf\":[{\"properties\":{\"a\":{\"$ref\":\"#/$defs/x\"}},"
                       "\"required\":[\"zz\"]},{\"properties\":{\"a\":{\"$ref\":\"#/$defs/x\"}},"
                       "\"required\":[\"zz\"]},{\"properties\":{\"a\":{\"$ref\":\"#/$defs/x\"}},"
                       "\"required\":[\"zz\"]}]}},\"$ref\":\"#/$defs/x\"}";
    char nest[2048] = "", ntail[2048] = "";
    for (int k = 0; k < 25; k++) {
        strcat(nest, "{\"a\":");
        strcat(ntail, "}");
    }
    strcat(nest, "{}");
    strcat(nest, ntail);
    json_t *e;
    CHECK(run(boom, nest, &e) >= 1);
    json_decref(e);
    /* a long path is cut, not overflowed */
    char key[3000];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    json_t *big = json_object();
    json_object_set_new(big, key, json_integer(1));
    s = J("{\"additionalProperties\":false}");
    errs = json_array();
    CHECK(ch_jschema_validate(s, big, "/config", errs, err, sizeof err) == 1);
    CHECK(strlen(first_path(errs)) < CH_JS_PATH_MAX + 16);
    json_decref(errs);
    json_decref(s);
    json_decref(big);
}

int main(void)
{
    test_types();
    test_objects();
    test_arrays();
    test_strings();
    test_numbers();
    test_enum_const();
    test_composition();
    test_refs();
    test_broken_schemas();
    test_bounds();
    test_utf8_cut();
    CHECK_DONE();
}
