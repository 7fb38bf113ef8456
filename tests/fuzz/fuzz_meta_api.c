/* fuzz_meta_api.c -- the meta connector: parsing of provider API answers (instance_open, tick, event, deliver).
 * With flags & 64, the look ahead: event_prefetch over up to seven lead
 * webhooks of the spec's three pages (fz_spec_meta.h), its Graph batch
 * answers (per-operation code, headers, body; nulls, wrong counts) and then
 * each event's own reads, all from the input (corpus/meta_api/prefetch_*).
 * Input format: fz_plugin.h. */
#include <stddef.h>
#include <stdint.h>

#include "fz_spec_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_api_one(&spec, data, size);
}
