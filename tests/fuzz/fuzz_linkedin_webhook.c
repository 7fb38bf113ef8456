/* fuzz_linkedin_webhook.c -- the linkedin connector: webhook verification (and routing, and the event callback) of a request.
 * Input format: fz_plugin.h. */
#include <stddef.h>
#include <stdint.h>

#include "fz_spec_linkedin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_webhook_one(&spec, data, size);
}
