/* fuzz_crm_generic_api.c -- the crm_generic connector: parsing of provider API answers (instance_open, tick, event, deliver).
 * Input format: fz_plugin.h. */
#include <stddef.h>
#include <stdint.h>

#include "fz_spec_crm_generic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_api_one(&spec, data, size);
}
