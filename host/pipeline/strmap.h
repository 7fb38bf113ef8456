/* strmap.h -- a small string-keyed hash map (chained, power-of-two
 * buckets, grows at load factor 1). Used by conncache.c and instances.c,
 * which need lookups by connection id and by (plugin, routing key) in
 * O(1) on the event loop. Not thread-safe: callers lock. Keys are copied;
 * values are the caller's. */
#ifndef CH_STRMAP_H
#define CH_STRMAP_H

#include <stddef.h>

typedef struct ch_strmap ch_strmap;

ch_strmap *ch_strmap_new(void);
/* Calls free_value (may be NULL) on every value, then frees the map. */
void ch_strmap_free(ch_strmap *m, void (*free_value)(void *));
size_t ch_strmap_count(const ch_strmap *m);
void *ch_strmap_get(const ch_strmap *m, const char *key);
/* Sets key to value; returns the value it replaces (NULL if none). */
void *ch_strmap_put(ch_strmap *m, const char *key, void *value);
/* Removes key; returns its value (NULL if absent). */
void *ch_strmap_del(ch_strmap *m, const char *key);
/* Calls fn for every entry (in no particular order); fn must not change
 * the map. */
void ch_strmap_foreach(const ch_strmap *m,
                       void (*fn)(const char *key, void *value, void *arg),
                       void *arg);

#endif
