/* test_slots -- the shared worker slots (slots.h): a forked child writes
 * its slot and dies by SIGSEGV through the same crash marking the workers
 * use; the parent then reads, without any lock the child could have held,
 * what it was running, which signal killed it, its heartbeat and the tenant
 * it held; a successor claiming the slot gets the predecessor's view. Also:
 * a reader does not spin forever on a writer killed mid-update. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "call.h"
#include "check.h"
#include "slots.h"

static void crash_handler(int sig)
{
    ch_slot_mark_crashed(ch_slot_current(), sig);
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(void)
{
    CHECK(ch_slots_create(-1, 1) == NULL);
    CHECK(ch_slots_create(1, 0) == NULL);
    ch_slots *s = ch_slots_create(2, 3);
    CHECK(s != NULL);
    if (!s) CHECK_DONE();
    CHECK(ch_slots_workers(s) == 2 && ch_slots_threads(s) == 3);
    CHECK(ch_slots_get(s, 2, 0) == NULL && ch_slots_get(s, 0, 3) == NULL && ch_slots_get(s, -1, 0) == NULL);
    CHECK(ch_slots_get(s, 1, 2) != ch_slots_get(s, 1, 1));
    ch_slots *inproc = ch_slots_create(0, 2);
    CHECK(inproc && ch_slots_workers(inproc) == 1 && ch_slots_get(inproc, 0, 1) != NULL);
    ch_slots_destroy(inproc);

    ch_slot *sl = ch_slots_get(s, 1, 2);
    int64_t before = ch_monotonic_ms();
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, crash_handler);
        ch_slot_set_current(sl);
        ch_slot_claim(sl, "host-1-2", NULL);
        atomic_store(&ch_slots_proc(s, 1)->pid, (int32_t)getpid());
        ch_slot_hold(sl, "tenantA");
        ch_slot_item it = {.kind = 1, .callback = CH_SLOT_CB_DELIVER, .start_ms = 5, .deadline_ms = 99};
        snprintf(it.tenant, sizeof it.tenant, "tenantA");
        snprintf(it.conn, sizeof it.conn, "dst");
        snprintf(it.stream, sizeof it.stream, "c360:{t:tenantA}:dl");
        snprintf(it.entry, sizeof it.entry, "123-4");
        snprintf(it.plugin, sizeof it.plugin, "wtp");
        ch_slot_begin(sl, &it);
        raise(SIGSEGV);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    ch_slot_view v;
    ch_slot_read(sl, &v);
    CHECK(v.busy == 1);
    CHECK(v.crashed == SIGSEGV);
    CHECK(v.heartbeat_ms >= before);
    CHECK_STR(v.consumer, "host-1-2");
    CHECK_STR(v.held_tenant, "tenantA");
    CHECK_STR(v.item.tenant, "tenantA");
    CHECK_STR(v.item.conn, "dst");
    CHECK_STR(v.item.stream, "c360:{t:tenantA}:dl");
    CHECK_STR(v.item.entry, "123-4");
    CHECK_STR(v.item.plugin, "wtp");
    CHECK(v.item.kind == 1 && v.item.callback == CH_SLOT_CB_DELIVER);
    CHECK(v.item.deadline_ms == 99);
    CHECK(atomic_load(&ch_slots_proc(s, 1)->pid) == pid);
    CHECK_STR(ch_slot_cb_name(v.item.callback), "deliver");

    /* The successor: sees its predecessor, then starts clean. */
    ch_slot_view prev;
    ch_slot_claim(sl, "host-2-2", &prev);
    CHECK_STR(prev.consumer, "host-1-2");
    CHECK_STR(prev.held_tenant, "tenantA");
    CHECK(prev.crashed == SIGSEGV);
    ch_slot_read(sl, &v);
    CHECK_STR(v.consumer, "host-2-2");
    CHECK(v.busy == 0 && v.crashed == 0 && v.held_tenant[0] == '\0' && v.item.entry[0] == '\0');
    ch_slot_end(sl);
    ch_slot_read(sl, &v);
    CHECK(v.busy == 0);

    /* Other slots untouched. */
    ch_slot_read(ch_slots_get(s, 0, 0), &v);
    CHECK(v.busy == 0 && v.consumer[0] == '\0');

    /* A writer killed in the middle of an update (counter left odd): the
     * reader still returns. */
    ch_slot *odd = ch_slots_get(s, 0, 1);
    atomic_store(&odd->seq, 7);
    ch_slot_read(odd, &v);
    CHECK(v.busy == 0);

    ch_slots_destroy(s);
    CHECK_DONE();
}
