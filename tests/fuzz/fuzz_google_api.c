/* fuzz_google_api.c -- the google connector: parsing of provider API answers (instance_open, tick, event, deliver).
 * Input format: fz_plugin.h. */
#include <stddef.h>
#include <stdint.h>

#include "fz_spec_google.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_api_one(&spec, data, size);
}
