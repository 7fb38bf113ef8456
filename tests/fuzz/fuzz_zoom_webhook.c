/* fuzz_zoom_webhook.c -- the zoom connector: webhook verification (and routing, and the event callback) of a request.
 * Input format: fz_plugin.h. */
#include <stddef.h>
#include <stdint.h>

#include "fz_spec_zoom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_webhook_one(&spec, data, size);
}
