#ifndef MERGETUNE_CGSL_SHIM_H
#define MERGETUNE_CGSL_SHIM_H
// GSL with OpenBLAS as its CBLAS (libgsl is linked without a CBLAS on Debian).
// GSL exposes its algorithm types as mutable global variables, which Swift 6 rejects
// as not concurrency-safe; these inline accessors return them instead.
#include <gsl/gsl_errno.h>
#include <gsl/gsl_math.h>
#include <gsl/gsl_vector.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_permutation.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_blas.h>  // declares cblas_*; OpenBLAS provides them at link time
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_min.h>
#include <gsl/gsl_qrng.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sf_erf.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_fit.h>

// OpenBLAS's thread control (libopenblas, linked as GSL's CBLAS); declared here because the
// OpenBLAS cblas.h would clash with GSL's gsl_cblas.h.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

static inline const gsl_rng_type *cgsl_rng_mt19937(void) { return gsl_rng_mt19937; }
static inline const gsl_qrng_type *cgsl_qrng_sobol(void) { return gsl_qrng_sobol; }
static inline const gsl_multimin_fdfminimizer_type *cgsl_multimin_bfgs2(void) {
    return gsl_multimin_fdfminimizer_vector_bfgs2;
}
static inline const gsl_multimin_fminimizer_type *cgsl_multimin_nmsimplex2(void) {
    return gsl_multimin_fminimizer_nmsimplex2;
}
static inline const gsl_min_fminimizer_type *cgsl_min_brent(void) { return gsl_min_fminimizer_brent; }

#endif
