/* connstatus.h -- the status of a connection as customers and operators see
 * it: "active", "needs_reauth" (a token is dead: the customer must connect
 * again), and whatever states the pipeline adds. Stored per connection in
 * the hash  c360:{t:<tenant>}:conn:<connection>:status  with the fields
 * state, cause (a short human-readable reason, never a secret) and
 * since_ms (wall clock when the state was entered; unchanged when the same
 * state is set again with a new cause). */
#ifndef CH_CONNSTATUS_H
#define CH_CONNSTATUS_H

#include <stdint.h>

#include "connector_api.h"

#define CH_CONN_ACTIVE "active"
#define CH_CONN_NEEDS_REAUTH "needs_reauth"

#define CH_CONNSTATUS_STATE_MAX 32   /* [a-z_], 1..31 bytes */
#define CH_CONNSTATUS_CAUSE_MAX 256  /* longer causes are truncated */

typedef struct ch_connstatus {
    char state[CH_CONNSTATUS_STATE_MAX];
    char cause[CH_CONNSTATUS_CAUSE_MAX];
    int64_t since_ms;
} ch_connstatus;

/* Sets the state (and cause; NULL = ""). C360_EINVAL for bad ids or state,
 * C360_EIO when Redis fails. Control characters in cause become spaces.
 * A change of state (here or in a transition) is also handed to the
 * tenant's notification endpoint (notify.h: needs_reauth, failing,
 * recovered), fire and forget. */
int32_t ch_connstatus_set(const char *tenant, const char *conn,
                          const char *state, const char *cause);

/* Moves the connection to `state` only if its current state is `from`
 * (absent counts as "active"). *changed (may be NULL) tells whether it did.
 * Used to clear needs_reauth without overwriting a state another module
 * set meanwhile. */
int32_t ch_connstatus_transition(const char *tenant, const char *conn,
                                 const char *from, const char *state,
                                 const char *cause, int *changed);

/* C360_OK with *out filled, C360_ENOTFOUND if no status was ever set
 * (callers treat that as "active"), C360_EINVAL, C360_EIO. */
int32_t ch_connstatus_get(const char *tenant, const char *conn, ch_connstatus *out);

/* Removes the record (connection deleted). C360_OK even if absent. */
int32_t ch_connstatus_delete(const char *tenant, const char *conn);

#endif
