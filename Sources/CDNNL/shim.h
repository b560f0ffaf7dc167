#include <oneapi/dnnl/dnnl.h>
/* Debian's oneDNN runs on OpenMP (libgomp). The calling thread's OpenMP team size is set from the engine's one
   thread count before each oneDNN call; declared here so no compiler-specific omp.h is needed. */
void omp_set_num_threads(int num_threads);
int omp_get_max_threads(void);
/* Execution argument indices (macro chains in dnnl_types.h that Swift does not import). */
static const int spm_dnnl_arg_src = DNNL_ARG_SRC;
static const int spm_dnnl_arg_weights = DNNL_ARG_WEIGHTS;
static const int spm_dnnl_arg_bias = DNNL_ARG_BIAS;
static const int spm_dnnl_arg_dst = DNNL_ARG_DST;
static const int spm_dnnl_arg_scratchpad = DNNL_ARG_SCRATCHPAD;
static const int spm_dnnl_arg_from = DNNL_ARG_FROM;
static const int spm_dnnl_arg_to = DNNL_ARG_TO;
static const int spm_dnnl_arg_diff_src = DNNL_ARG_DIFF_SRC;
static const int spm_dnnl_arg_diff_dst = DNNL_ARG_DIFF_DST;
