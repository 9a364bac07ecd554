/* The floor for `npm run bench:step`: the BLAS/LAPACK work of one exact natural-gradient
 * step, done by a plain C program calling the same static OpenBLAS directly — the
 * ssyrk's of the layer-wise kernel assembly and the Cholesky solve of the kernel:
 *
 *   for each linear layer (in → out):  ssyrk  B Bᵀ, B [M, out]   (M = N·r kernel rows)
 *                                      ssyrk  A Aᵀ, A [N, in]
 *   spotrf  K [M, M],  spotrs  K x = u  (one right-hand side)
 *
 * Nothing else of the step (forward pass, backpropagation, Hadamard products, copies,
 * update) is in it: natgrad's step time divided by this is its overhead.
 *
 * Built by bench/step.js:
 *   cc -O2 bench/step_floor.c -I$(node scripts/openblas.js include) $(node scripts/openblas.js lib) \
 *      -lpthread -lm -o build/bench-step-floor
 *
 * Driven over stdin/stdout (one command per line, one JSON object per line back), so
 * that bench/step.js can alternate it with natgrad's step and machine noise hits both:
 *
 *   threads <n>                       openblas_set_num_threads(n)   → {"threads","corename"}
 *   floor <N> <r> <w0> <w1> … <wL>    one timed floor for an MLP w0 → w1 → … → wL
 *                                     → {"ssyrk_B":[…],"ssyrk_A":[…],"spotrf","spotrs","seconds"}
 *   quit
 *
 * Buffers are allocated and touched once per shape, outside the timed region; K is
 * restored (memcpy, untimed) before each spotrf. Inputs: an LCG in [−0.5, 0.5); K is
 * the first layer's B Bᵀ plus I, symmetric positive definite.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>

#include "bench_c.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info, size_t uplo_len);
void spotrs_(const char* uplo, const int* n, const int* nrhs, const float* a, const int* lda, float* b,
             const int* ldb, int* info, size_t uplo_len);



static float* xalloc(int64_t n) { return xalloc_named("step_floor", n); }

static void fill(float* a, int64_t n, uint32_t seed) {
  uint32_t x = seed;
  for (int64_t i = 0; i < n; ++i) {
    x = 1664525u * x + 1013904223u;
    a[i] = (float)((double)(x >> 8) * (1.0 / 16777216.0) - 0.5);
  }
}

#define MAXL 16
/* The cached problem (one shape at a time). */
static struct {
  int64_t N, r, L, w[MAXL + 1];
  float *B[MAXL], *A[MAXL], *BB, *AA, *K0, *K, *u;
} s;

static void release(void) {
  for (int l = 0; l < s.L; ++l) { free(s.B[l]); free(s.A[l]); }
  free(s.BB); free(s.AA); free(s.K0); free(s.K); free(s.u);
  memset(&s, 0, sizeof s);
}

static void setup(int64_t N, int64_t r, int64_t L, const int64_t* w) {
  int same = s.N == N && s.r == r && s.L == L;
  for (int64_t l = 0; same && l <= L; ++l) same = s.w[l] == w[l];
  if (same) return;
  release();
  s.N = N; s.r = r; s.L = L;
  memcpy(s.w, w, (size_t)(L + 1) * sizeof *w);
  const int64_t M = N * r;
  int64_t maxin = 0;
  for (int64_t l = 0; l < L; ++l) {
    s.B[l] = xalloc(M * w[l + 1]);
    s.A[l] = xalloc(N * w[l]);
    fill(s.B[l], M * w[l + 1], (uint32_t)(2 + 2 * l));
    fill(s.A[l], N * w[l], (uint32_t)(3 + 2 * l));
    if (w[l] > maxin) maxin = w[l];
  }
  s.BB = xalloc(M * M);
  s.AA = xalloc(N * N);
  s.K0 = xalloc(M * M);
  s.K = xalloc(M * M);
  s.u = xalloc(M);
  fill(s.u, M, 7);
  /* K0 = B₀B₀ᵀ + I (lower triangle, column-major = upper row-major): positive definite. */
  cblas_ssyrk(CblasColMajor, CblasLower, CblasNoTrans, (int)M, (int)w[1], 1.0f, s.B[0], (int)M, 0.0f, s.K0, (int)M);
  for (int64_t i = 0; i < M; ++i) s.K0[i * M + i] += 1.0f;
}

static void run_floor(void) {
  const int64_t N = s.N, M = s.N * s.r;
  double tb[MAXL], ta[MAXL];
  for (int64_t l = 0; l < s.L; ++l) {
    const int wo = (int)s.w[l + 1], wi = (int)s.w[l];
    double t0 = now();
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)M, wo, 1.0f, s.B[l], wo, 0.0f, s.BB, (int)M);
    double t1 = now();
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)N, wi, 1.0f, s.A[l], wi, 0.0f, s.AA, (int)N);
    double t2 = now();
    tb[l] = t1 - t0;
    ta[l] = t2 - t1;
  }
  memcpy(s.K, s.K0, (size_t)(M * M) * sizeof(float));
  float* x = xalloc(M);
  memcpy(x, s.u, (size_t)M * sizeof(float));
  const int m = (int)M, one = 1;
  int info = 0;
  double t0 = now();
  spotrf_("L", &m, s.K, &m, &info, 1);
  double t1 = now();
  if (info != 0) { fprintf(stderr, "step_floor: spotrf info %d\n", info); exit(3); }
  spotrs_("L", &m, &one, s.K, &m, x, &m, &info, 1);
  double t2 = now();
  if (info != 0) { fprintf(stderr, "step_floor: spotrs info %d\n", info); exit(3); }
  free(x);
  double total = (t1 - t0) + (t2 - t1);
  printf("{\"ssyrk_B\":[");
  for (int64_t l = 0; l < s.L; ++l) { printf("%s%.9f", l ? "," : "", tb[l]); total += tb[l]; }
  printf("],\"ssyrk_A\":[");
  for (int64_t l = 0; l < s.L; ++l) { printf("%s%.9f", l ? "," : "", ta[l]); total += ta[l]; }
  printf("],\"spotrf\":%.9f,\"spotrs\":%.9f,\"seconds\":%.9f}\n", t1 - t0, t2 - t1, total);
}

int main(void) {
  char line[4096];
  setvbuf(stdout, NULL, _IOLBF, 0);
  while (fgets(line, sizeof line, stdin)) {
    char* save = NULL;
    char* cmd = strtok_r(line, " \t\r\n", &save);
    if (!cmd) continue;
    if (!strcmp(cmd, "quit")) break;
    if (!strcmp(cmd, "threads")) {
      int n = atoi(strtok_r(NULL, " \t\r\n", &save));
      openblas_set_num_threads(n);
      printf("{\"threads\":%d,\"corename\":\"%s\",\"config\":\"%s\"}\n", openblas_get_num_threads(), openblas_get_corename(),
             openblas_get_config());
    } else if (!strcmp(cmd, "floor")) {
      int64_t N = atoll(strtok_r(NULL, " \t\r\n", &save));
      int64_t r = atoll(strtok_r(NULL, " \t\r\n", &save));
      int64_t w[MAXL + 1], L = -1;
      char* tok;
      while ((tok = strtok_r(NULL, " \t\r\n", &save)) && L < MAXL) w[++L] = atoll(tok);
      if (N < 1 || r < 1 || L < 1) { printf("{\"error\":\"floor N r w0 w1 ...\"}\n"); continue; }
      setup(N, r, L, w);
      run_floor();
    } else {
      printf("{\"error\":\"unknown command %s\"}\n", cmd);
    }
  }
  release();
  return 0;
}
