/* fuzz_google_webhook.c -- the google connector: webhook verification (and routing, and the event callback) of a request.
 * Input format: fz_plugin.h. */
#include <stddef.h>
#include <stdint.h>

#include "fz_spec_google.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_webhook_one(&spec, data, size);
}
