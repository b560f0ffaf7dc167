// Linear-layer GEMMs (out = in · Wᵀ, fp32, weights [out, in]) on OpenBLAS and on oneDNN's matmul with the weights
// reordered once into the layout it picks: would routing the engine's linear layers through oneDNN pay?
// With PRECISION bf16, oneDNN's operands are bf16 (activations rounded once before timing, weights in the
// reorder), sums and result fp32 — what the engine's `--precision bf16` runs; OpenBLAS stays fp32.
// Usage (see matmul-onednn.sh): matmul-onednn THREADS ROWS IN OUT [fp32|bf16]. Prints one JSON line: best of 7.
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void omp_set_num_threads(int);  // Debian's oneDNN runs on OpenMP

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CHECK(call)                                                                                               \
    do {                                                                                                          \
        if ((call) != dnnl_success) { fprintf(stderr, "oneDNN: %s failed\n", #call); exit(1); }                 \
    } while (0)

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) { fprintf(stderr, "usage: matmul-onednn THREADS ROWS IN OUT [fp32|bf16]\n"); return 2; }
    const int bf16 = argc == 6 && strcmp(argv[5], "bf16") == 0;
    const dnnl_data_type_t operandType = bf16 ? dnnl_bf16 : dnnl_f32;
    const int threads = atoi(argv[1]);
    const long m = atol(argv[2]), k = atol(argv[3]), n = atol(argv[4]);
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
    float *a = aligned_alloc(64, m * k * 4), *w = aligned_alloc(64, n * k * 4), *c = aligned_alloc(64, m * n * 4);
    for (long i = 0; i < m * k; i++) a[i] = (float)(i % 17) / 17;
    for (long i = 0; i < n * k; i++) w[i] = (float)(i % 13) / 13;

    double openblas = 1e9;
    for (int r = 0; r < 7; r++) {
        const double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, w, k, 0, c, n);
        if (now() - t < openblas) openblas = now() - t;
    }

    dnnl_engine_t engine;
    dnnl_stream_t stream;
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    dnnl_memory_desc_t source, anyWeights, plainWeights, destination;
    dnnl_dims_t sourceDims = {m, k}, weightDims = {k, n}, destinationDims = {m, n};
    CHECK(dnnl_memory_desc_init_by_tag(&source, 2, sourceDims, operandType, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&anyWeights, 2, weightDims, operandType, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&plainWeights, 2, weightDims, dnnl_f32, dnnl_ba));  // W [out, in] = Wᵀ as ba
    CHECK(dnnl_memory_desc_init_by_tag(&destination, 2, destinationDims, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t operation;
    CHECK(dnnl_matmul_desc_init(&operation, &source, &anyWeights, NULL, &destination));
    dnnl_primitive_desc_t descriptor;
    CHECK(dnnl_primitive_desc_create(&descriptor, &operation, NULL, engine, NULL));
    const char *implementation = "?";
    dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &implementation);
    const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(descriptor, dnnl_query_weights_md, 0);
    dnnl_primitive_t matmul;
    CHECK(dnnl_primitive_create(&matmul, descriptor));

    // The weights in oneDNN's layout, made once (as a layer would keep them).
    float *reordered = aligned_alloc(64, (dnnl_memory_desc_get_size(chosen) + 63) / 64 * 64);
    dnnl_memory_t plainMemory, weightsMemory, sourceMemory, destinationMemory;
    CHECK(dnnl_memory_create(&plainMemory, &plainWeights, engine, w));
    CHECK(dnnl_memory_create(&weightsMemory, chosen, engine, reordered));
    dnnl_primitive_desc_t reorderDescriptor;
    CHECK(dnnl_reorder_primitive_desc_create(&reorderDescriptor, &plainWeights, engine, chosen, engine, NULL));
    dnnl_primitive_t reorder;
    CHECK(dnnl_primitive_create(&reorder, reorderDescriptor));
    dnnl_exec_arg_t reorderArguments[2] = {{DNNL_ARG_FROM, plainMemory}, {DNNL_ARG_TO, weightsMemory}};
    CHECK(dnnl_primitive_execute(reorder, stream, 2, reorderArguments));
    CHECK(dnnl_stream_wait(stream));
    // bf16 activations: the upper halves of the floats, rounded to nearest even (as the engine converts them).
    uint16_t *rounded = aligned_alloc(64, (m * k * 2 + 63) / 64 * 64);
    for (long i = 0; i < m * k && bf16; i++) {
        uint32_t bits;
        memcpy(&bits, a + i, 4);
        rounded[i] = (uint16_t)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }
    CHECK(dnnl_memory_create(&sourceMemory, &source, engine, bf16 ? (void *)rounded : (void *)a));
    CHECK(dnnl_memory_create(&destinationMemory, &destination, engine, c));
    dnnl_exec_arg_t arguments[3] = {
        {DNNL_ARG_SRC, sourceMemory}, {DNNL_ARG_WEIGHTS, weightsMemory}, {DNNL_ARG_DST, destinationMemory}};
    double onednn = 1e9;
    for (int r = 0; r < 7; r++) {
        const double t = now();
        CHECK(dnnl_primitive_execute(matmul, stream, 3, arguments));
        CHECK(dnnl_stream_wait(stream));
        if (now() - t < onednn) onednn = now() - t;
    }
    const double flop = 2.0 * m * n * k;
    printf("{\"onednnPrecision\": \"%s\", \"threads\": %d, \"shape\": [%ld, %ld, %ld], \"openblasMs\": %.2f, \"openblasGFLOPs\": %.1f, "
           "\"onednnMs\": %.2f, \"onednnGFLOPs\": %.1f, \"onednnKernel\": \"%s\", \"weightsPlain\": %s}\n",
           bf16 ? "bf16" : "fp32", threads, m, k, n, openblas * 1e3, flop / openblas / 1e9, onednn * 1e3, flop / onednn / 1e9,
           implementation, dnnl_memory_desc_equal(chosen, &plainWeights) ? "true" : "false");
    return 0;
}
