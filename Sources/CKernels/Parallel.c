#include "CKernels.h"

// libgomp's entry points (the OpenMP runtime Debian's oneDNN runs on), declared here so no compiler's omp.h and
// no -fopenmp are needed: GOMP_parallel runs fn(data) on a team of `threads` (the caller is one of them) and
// returns when all have finished.
void GOMP_parallel(void (*fn)(void *), void *data, unsigned threads, unsigned flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);

struct spm_chunk_job {
    void (*body)(void *, size_t);
    void *context;
    size_t chunks;
};

static void spm_run_chunks(void *data) {
    const struct spm_chunk_job *job = data;
    const size_t stride = (size_t)omp_get_num_threads();
    for (size_t chunk = (size_t)omp_get_thread_num(); chunk < job->chunks; chunk += stride) {
        job->body(job->context, chunk);
    }
}

void spm_parallel_chunks(size_t chunks, void (*body)(void *context, size_t chunk), void *context) {
    struct spm_chunk_job job = {body, context, chunks};
    GOMP_parallel(spm_run_chunks, &job, (unsigned)chunks, 0);
}
