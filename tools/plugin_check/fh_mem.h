/* fh_mem.h -- accounting for the memory the fake host hands to a plugin.
 *
 * The ABI names one release function per kind of buffer: host->free for
 * plain heap memory (state values, base64/hex results), host->secret_free
 * for guarded memory (secrets, OAuth tokens: sodium_malloc, wiped on
 * release), host->http_free for responses. In c360d a buffer released with
 * the wrong one corrupts the heap or aborts in libsodium, and one never
 * released is a leak per tick, per connection, for ever. Here each buffer is
 * registered with the kind that allocated it, so both mistakes become
 * findings instead of crashes, and what is left at the end is reported.
 *
 * All functions are called with fh_lock held. */
#ifndef PC_FH_MEM_H
#define PC_FH_MEM_H

#include <stddef.h>

#include <jansson.h>

typedef enum fh_mem_kind {
    FH_MEM_HEAP = 0,  /* malloc; released with host->free */
    FH_MEM_SECRET,    /* sodium_malloc; host->secret_free */
    FH_MEM_HTTP,      /* one malloc'd block; host->http_free */
    FH_MEM_HMAC_KEY   /* a prepared key (ABI 1.8); host->hmac_sha256_key_free */
} fh_mem_kind;

/* Allocates size bytes of the kind and registers them as handed out by
 * service `producer` (a string literal) in the running callback. Aborts on
 * allocation failure, as the host does. */
void *fh_mem_alloc_locked(fh_mem_kind kind, size_t size, const char *producer);

/* Registers memory allocated elsewhere with the kind's allocator (a crypto
 * helper's malloc'd result). NULL is ignored. */
void fh_mem_adopt_locked(void *p, fh_mem_kind kind, const char *producer);

/* Releases p as the plugin asked, through the host function of kind `via`,
 * and notes in entry e what p was. A buffer of another kind is a problem,
 * and is then released with its own function (so the tool does not crash
 * or leak); an unknown pointer is a problem and is left alone. */
void fh_mem_release_locked(void *p, fh_mem_kind via, json_t *e);

/* End of the run: reports the buffers never released as one problem, then
 * releases them. */
void fh_mem_finish_locked(void);

#endif
