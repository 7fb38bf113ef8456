/* maint_int.h -- the pieces of the maintenance thread's passes; private to
 * maint*.c. A pass over every tenant is done one SSCAN page at a time, so
 * the thread can run the scheduler's claim between pages and a pass over
 * 100k tenants never delays a tick by more than one page's work. */
#ifndef CH_MAINT_INT_H
#define CH_MAINT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define CH_MAINT_PAGE 100 /* SSCAN COUNT hint per page */
#define CH_MAINT_CURSOR_MAX 24

/* One page of c360:{idx}:tenants from cursor ("0" to begin; updated in
 * place, "0" again when the pass is complete: *done = 1). *tenants is an
 * array of *n valid tenant ids (invalid members are skipped); free with
 * ch_maint_tenants_free. C360_OK or C360_EIO. */
int32_t ch_maint_tenants_page(char *cursor, char ***tenants, size_t *n, int *done);
void ch_maint_tenants_free(char **tenants, size_t n);

/* Adds one tenant's queue figures to acc (sums; maxima for the lags).
 * C360_OK or C360_EIO. */
int32_t ch_maint_sample_tenant(const char *tenant, ch_metrics_gauges *acc);

#endif
