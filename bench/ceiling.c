/* The ceiling for `npm run bench:native`: the same work as natgrad's kernels,
 * done by a plain C program calling the same static OpenBLAS directly.
 *
 * Built by bench/native.js:
 *   cc -O2 bench/ceiling.c -I$(node scripts/openblas.js include) $(node scripts/openblas.js lib) \
 *      -lpthread -lm -o build/bench-ceiling
 *
 * It is driven over stdin/stdout by bench/native.js so that natgrad and the
 * ceiling run alternately (one timed call each, in turn) and machine noise hits
 * both. One command per line, one JSON object per line back:
 *
 *   threads <n>                 openblas_set_num_threads(n)            → {"threads":n,"corename":...}
 *   gram <P> <M>                K = JᵀJ, J [P,M]: ssyrk + mirror        → {"seconds","blas_seconds","checksum"}
 *   layergram <N> <k> <wo> <wi> K += (B Bᵀ) ⊙ (expand_k(A Aᵀ) + 1)      → {"seconds","blas_seconds","checksum"}
 *   layergram_reset             K = 0 for the next layergram
 *   chol <M> <nrhs> <lambda>    X = (K + λI)⁻¹ R: copy, spotrf, spotrs   → {"seconds","blas_seconds","checksum"}
 *   pinv <M> <nrhs> <lambda>    X = (K + λI)⁺ R: copy, ssyevd, cutoff M·ε₃₂·max|e|, two sgemm
 *                                                                       → {"seconds","blas_seconds","checksum","rank"}
 *   bgi <batch> <rows> <k> <lambda>  out[b] = (G_bᵀG_b + λI)⁻¹, G [batch,rows,k]: per matrix
 *                               ssyrk, spotrf, spotri, mirror            → {"seconds","blas_seconds","checksum"}
 *   gemm <m> <n> <k>            C = A B (row-major, no transposes): one sgemm → {"seconds","blas_seconds","checksum"}
 *   tiny <calls>                ns per call of a 1×1 ssyrk and sgemm    → {"gram_ns","gemm_ns"}
 *   free                        drop all cached inputs and outputs
 *   quit
 *
 * "seconds" is the whole call (what the natgrad kernel does); "blas_seconds"
 * the OpenBLAS/LAPACK calls alone (no mirror, no Hadamard pass, no copies).
 * Scratch and output buffers are allocated once per shape, outside the timed
 * region, and touched before the first timed call: the ceiling never pays page
 * faults. Inputs come from the LCG below, the same one bench/native.js uses, so
 * both sides compute on bit-identical data; "checksum" lets the driver check it.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>

#include "bench_c.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info, size_t uplo_len);
void spotrs_(const char* uplo, const int* n, const int* nrhs, const float* a, const int* lda, float* b,
             const int* ldb, int* info, size_t uplo_len);
void spotri_(const char* uplo, const int* n, float* a, const int* lda, int* info, size_t uplo_len);
void ssyevd_(const char* jobz, const char* uplo, const int* n, float* a, const int* lda, float* w, float* work,
             const int* lwork, int* iwork, const int* liwork, int* info, size_t jobz_len, size_t uplo_len);


/* ---- deterministic inputs: the same generator as fill() in bench/native.js ---- */
/* x ← 1664525·x + 1013904223 (mod 2³²); value = (x >> 8)·2⁻²⁴ − 0.5, exact in float32. */
static void fill(float* a, int64_t n, uint32_t seed) {
  uint32_t x = seed;
  for (int64_t i = 0; i < n; ++i) {
    x = 1664525u * x + 1013904223u;
    a[i] = (float)((double)(x >> 8) * (1.0 / 16777216.0) - 0.5);
  }
}
/* A symmetric, diagonally dominant (so positive definite) K [M,M]: upper triangle
 * from the LCG in row-major order, mirrored, M added to the diagonal. */
static void fill_spd(float* K, int64_t M, uint32_t seed) {
  uint32_t x = seed;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = i; j < M; ++j) {
      x = 1664525u * x + 1013904223u;
      float v = (float)((double)(x >> 8) * (1.0 / 16777216.0) - 0.5);
      if (i == j) v += (float)M;
      K[i * M + j] = v;
      K[j * M + i] = v;
    }
}
enum { SEED_J = 1, SEED_B = 2, SEED_A = 3, SEED_K = 4, SEED_R = 5, SEED_G = 6, SEED_GA = 7, SEED_GB = 8 };

/* Σ v_i·(1 + (i mod 7)) in double, in index order — the same as checksum() in bench/native.js. */
static double checksum(const float* a, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (double)a[i] * (double)(1 + i % 7);
  return s;
}


static float* xalloc(int64_t n) { return xalloc_named("ceiling", n); }

/* One cached problem per kernel (the driver runs one shape at a time). */
static struct { int64_t P, M; float *J, *K; } g;
static struct { int64_t N, k, wo, wi; float *B, *A, *BB, *AA, *K; } lg;
static struct { int64_t M, nrhs; float *K, *R, *W, *Y, *X; } ch;
static struct { int64_t M, nrhs; int lwork, liwork; float *K, *R, *V, *e, *T, *X, *work; int* iwork; } pv;
static struct { int64_t batch, rows, k; float *G, *S, *out; } bg;
static struct { int64_t m, n, k; float *A, *B, *C; } gm;

static void free_all(void) {
  free(g.J); free(g.K); memset(&g, 0, sizeof g);
  free(lg.B); free(lg.A); free(lg.BB); free(lg.AA); free(lg.K); memset(&lg, 0, sizeof lg);
  free(ch.K); free(ch.R); free(ch.W); free(ch.Y); free(ch.X); memset(&ch, 0, sizeof ch);
  free(pv.K); free(pv.R); free(pv.V); free(pv.e); free(pv.T); free(pv.X); free(pv.work); free(pv.iwork); memset(&pv, 0, sizeof pv);
  free(bg.G); free(bg.S); free(bg.out); memset(&bg, 0, sizeof bg);
  free(gm.A); free(gm.B); free(gm.C); memset(&gm, 0, sizeof gm);
}

/* K = JᵀJ, J [P,M] row-major: one ssyrk (upper), then lower ← upperᵀ in 64×64 tiles. */
static void run_gram(int64_t P, int64_t M) {
  if (g.P != P || g.M != M) {
    free(g.J); free(g.K);
    g.P = P; g.M = M;
    g.J = xalloc(P * M); g.K = xalloc(M * M);
    fill(g.J, P * M, SEED_J);
  }
  float* K = g.K;
  const double t0 = now();
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)M, (int)P, 1.0f, g.J, (int)M, 0.0f, K, (int)M);
  const double t1 = now();
  const int64_t T = 64;
  for (int64_t i0 = 0; i0 < M; i0 += T)
    for (int64_t j0 = i0; j0 < M; j0 += T) {
      const int64_t i1 = i0 + T < M ? i0 + T : M, j1 = j0 + T < M ? j0 + T : M;
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = (j0 > i + 1 ? j0 : i + 1); j < j1; ++j) K[j * M + i] = K[i * M + j];
    }
  const double t2 = now();
  printf("{\"seconds\":%.9f,\"blas_seconds\":%.9f,\"checksum\":%.17g}\n", t2 - t0, t1 - t0, checksum(K, M * M));
}

/* K[Nk,Nk] += (B Bᵀ) ⊙ (expand_k(A Aᵀ) + 1): ssyrk(B), ssyrk(A) (upper), then
 * H = BB ⊙ (AA[sample] + 1) over the upper triangle in 64×64 tiles, added to
 * K[r,c] and K[c,r]. */
static void run_layergram(int64_t N, int64_t k, int64_t wo, int64_t wi) {
  const int64_t NK = N * k;
  if (lg.N != N || lg.k != k || lg.wo != wo || lg.wi != wi) {
    free(lg.B); free(lg.A); free(lg.BB); free(lg.AA); free(lg.K);
    lg.N = N; lg.k = k; lg.wo = wo; lg.wi = wi;
    lg.B = xalloc(NK * wo); lg.A = xalloc(N * wi);
    lg.BB = xalloc(NK * NK); lg.AA = xalloc(N * N); lg.K = xalloc(NK * NK);
    fill(lg.B, NK * wo, SEED_B);
    fill(lg.A, N * wi, SEED_A);
  }
  float *BB = lg.BB, *AA = lg.AA, *K = lg.K;
  const double t0 = now();
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)NK, (int)wo, 1.0f, lg.B, (int)wo, 0.0f, BB, (int)NK);
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)N, (int)wi, 1.0f, lg.A, (int)wi, 0.0f, AA, (int)N);
  const double t1 = now();
  const int64_t T = 64;
  for (int64_t r0 = 0; r0 < NK; r0 += T) {
    const int64_t r1 = r0 + T < NK ? r0 + T : NK;
    for (int64_t c0 = r0; c0 < NK; c0 += T) {
      const int64_t c1 = c0 + T < NK ? c0 + T : NK;
      for (int64_t r = r0; r < r1; ++r) {
        const float* bb = BB + r * NK;
        const float* aa = AA + (r / k) * N;
        float* kr = K + r * NK;
        for (int64_t c = (c0 > r ? c0 : r); c < c1; ++c) {
          const float h = bb[c] * (aa[c / k] + 1.0f);
          kr[c] += h;
          if (c != r) K[c * NK + r] += h;
        }
      }
    }
  }
  const double t2 = now();
  printf("{\"seconds\":%.9f,\"blas_seconds\":%.9f,\"checksum\":%.17g}\n", t2 - t0, t1 - t0, checksum(K, NK * NK));
}

/* X = (K + λI)⁻¹ R: W = copy of K with λ on the diagonal (row-major upper ==
 * column-major lower), spotrf("L"), R to column-major, spotrs, back to row-major. */
static void run_chol(int64_t M, int64_t nrhs, double lambda) {
  if (ch.M != M || ch.nrhs != nrhs) {
    free(ch.K); free(ch.R); free(ch.W); free(ch.Y); free(ch.X);
    ch.M = M; ch.nrhs = nrhs;
    ch.K = xalloc(M * M); ch.R = xalloc(M * nrhs); ch.W = xalloc(M * M); ch.Y = xalloc(M * nrhs);
    ch.X = xalloc(M * nrhs);
    fill_spd(ch.K, M, SEED_K);
    fill(ch.R, M * nrhs, SEED_R);
  }
  const int n = (int)M, nr = (int)nrhs;
  int info = 0;
  double blas = 0;
  const double t0 = now();
  memcpy(ch.W, ch.K, (size_t)(M * M) * sizeof(float));
  for (int64_t i = 0; i < M; ++i) ch.W[i * M + i] += (float)lambda;
  double t = now();
  spotrf_("L", &n, ch.W, &n, &info, 1);
  blas += now() - t;
  if (info != 0) { fprintf(stderr, "ceiling: spotrf info %d\n", info); exit(3); }
  for (int64_t r = 0; r < M; ++r)
    for (int64_t c = 0; c < nrhs; ++c) ch.Y[c * M + r] = ch.R[r * nrhs + c];
  t = now();
  spotrs_("L", &n, &nr, ch.W, &n, ch.Y, &n, &info, 1);
  blas += now() - t;
  if (info != 0) { fprintf(stderr, "ceiling: spotrs info %d\n", info); exit(3); }
  for (int64_t r = 0; r < M; ++r)
    for (int64_t c = 0; c < nrhs; ++c) ch.X[r * nrhs + c] = ch.Y[c * M + r];
  const double t1 = now();
  printf("{\"seconds\":%.9f,\"blas_seconds\":%.9f,\"checksum\":%.17g}\n", t1 - t0, blas, checksum(ch.X, M * nrhs));
}

/* X = (K + λI)⁺ R as natgrad's pinvSolve (float32) does it: V = K + λI (row-major upper ==
 * column-major lower), ssyevd("V", "L") with its workspace sized once per shape (outside the timed
 * region), eigenvalues with |e| ≤ M·ε₃₂·max|e| dropped, T = Vᵀ R (V column-major is Vᵀ row-major),
 * T scaled by 1/e, X = V T: two row-major sgemm. */
static void run_pinv(int64_t M, int64_t nrhs, double lambda) {
  const int n = (int)M;
  if (pv.M != M || pv.nrhs != nrhs) {
    free(pv.K); free(pv.R); free(pv.V); free(pv.e); free(pv.T); free(pv.X); free(pv.work); free(pv.iwork);
    pv.M = M; pv.nrhs = nrhs;
    pv.K = xalloc(M * M); pv.R = xalloc(M * nrhs); pv.V = xalloc(M * M); pv.e = xalloc(M);
    pv.T = xalloc(M * nrhs); pv.X = xalloc(M * nrhs);
    fill_spd(pv.K, M, SEED_K);
    fill(pv.R, M * nrhs, SEED_R);
    int info = 0, lwork = -1, liwork = -1, iw = 0;
    float wq = 0;
    ssyevd_("V", "L", &n, pv.V, &n, pv.e, &wq, &lwork, &iw, &liwork, &info, 1, 1);
    pv.lwork = (int)wq; pv.liwork = iw;
    pv.work = xalloc(pv.lwork);
    pv.iwork = (int*)malloc((size_t)(iw > 0 ? iw : 1) * sizeof(int));
    memset(pv.iwork, 0, (size_t)(iw > 0 ? iw : 1) * sizeof(int));
  }
  int info = 0;
  double blas = 0;
  const double t0 = now();
  memcpy(pv.V, pv.K, (size_t)(M * M) * sizeof(float));
  for (int64_t i = 0; i < M; ++i) pv.V[i * M + i] += (float)lambda;
  double t = now();
  ssyevd_("V", "L", &n, pv.V, &n, pv.e, pv.work, &pv.lwork, pv.iwork, &pv.liwork, &info, 1, 1);
  blas += now() - t;
  if (info != 0) { fprintf(stderr, "ceiling: ssyevd info %d\n", info); exit(3); }
  float emax = 0;
  for (int64_t i = 0; i < M; ++i) emax = fabsf(pv.e[i]) > emax ? fabsf(pv.e[i]) : emax;
  const float cutoff = (float)((double)M * 1.1920928955078125e-07) * emax;
  t = now();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, (int)nrhs, n, 1.0f, pv.V, n, pv.R, (int)nrhs, 0.0f, pv.T, (int)nrhs);
  blas += now() - t;
  int64_t rank = 0;
  for (int64_t i = 0; i < M; ++i) {
    const int keep = emax > 0 && fabsf(pv.e[i]) > cutoff;
    rank += keep;
    const float sc = keep ? 1.0f / pv.e[i] : 0.0f;
    for (int64_t c = 0; c < nrhs; ++c) pv.T[i * nrhs + c] *= sc;
  }
  t = now();
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, (int)nrhs, n, 1.0f, pv.V, n, pv.T, (int)nrhs, 0.0f, pv.X, (int)nrhs);
  blas += now() - t;
  const double t1 = now();
  printf("{\"seconds\":%.9f,\"blas_seconds\":%.9f,\"checksum\":%.17g,\"rank\":%lld}\n", t1 - t0, blas,
         checksum(pv.X, M * nrhs), (long long)rank);
}

/* out[b] = (G_bᵀG_b + λI)⁻¹ for G [batch, rows, k] row-major, one matrix at a time with LAPACK:
 * ssyrk (S = GᵀG, upper row-major == lower column-major), λ on the diagonal, spotrf("L"),
 * spotri("L") (the inverse from the factor), then the triangle mirrored into out[b]. */
static void run_bgi(int64_t batch, int64_t rows, int64_t k, double lambda) {
  if (bg.batch != batch || bg.rows != rows || bg.k != k) {
    free(bg.G); free(bg.S); free(bg.out);
    bg.batch = batch; bg.rows = rows; bg.k = k;
    bg.G = xalloc(batch * rows * k); bg.S = xalloc(k * k); bg.out = xalloc(batch * k * k);
    fill(bg.G, batch * rows * k, SEED_G);
  }
  const int kk = (int)k;
  double blas = 0;
  const double t0 = now();
  for (int64_t b = 0; b < batch; ++b) {
    float* S = bg.S;
    double t = now();
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, kk, (int)rows, 1.0f, bg.G + b * rows * k, kk, 0.0f, S, kk);
    for (int64_t a = 0; a < k; ++a) S[a * k + a] += (float)lambda;
    int info = 0;
    spotrf_("L", &kk, S, &kk, &info, 1);
    if (info != 0) { fprintf(stderr, "ceiling: bgi spotrf info %d (matrix %lld)\n", info, (long long)b); exit(3); }
    spotri_("L", &kk, S, &kk, &info, 1);
    if (info != 0) { fprintf(stderr, "ceiling: bgi spotri info %d (matrix %lld)\n", info, (long long)b); exit(3); }
    blas += now() - t;
    float* o = bg.out + b * k * k;
    for (int64_t a = 0; a < k; ++a)
      for (int64_t c = a; c < k; ++c) o[a * k + c] = o[c * k + a] = S[a * k + c];
  }
  const double t1 = now();
  printf("{\"seconds\":%.9f,\"blas_seconds\":%.9f,\"checksum\":%.17g}\n", t1 - t0, blas, checksum(bg.out, batch * k * k));
}

/* C [m,n] = A [m,k] · B [k,n], row-major: one cblas_sgemm. */
static void run_gemm(int64_t m, int64_t n, int64_t k) {
  if (gm.m != m || gm.n != n || gm.k != k) {
    free(gm.A); free(gm.B); free(gm.C);
    gm.m = m; gm.n = n; gm.k = k;
    gm.A = xalloc(m * k); gm.B = xalloc(k * n); gm.C = xalloc(m * n);
    fill(gm.A, m * k, SEED_GA);
    fill(gm.B, k * n, SEED_GB);
  }
  const double t0 = now();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, gm.A, (int)k, gm.B, (int)n, 0.0f, gm.C, (int)n);
  const double t1 = now();
  printf("{\"seconds\":%.9f,\"blas_seconds\":%.9f,\"checksum\":%.17g}\n", t1 - t0, t1 - t0, checksum(gm.C, m * n));
}

/* The BLAS part of a tiny call: 1×1 ssyrk (gram 1×1) and 1×1×1 sgemm, ns per call. */
static void run_tiny(long calls) {
  float j = 0.5f, k = 0, a = 0.5f, b = 0.25f, c = 0;
  double t0 = now();
  for (long i = 0; i < calls; ++i)
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, 1, 1, 1.0f, &j, 1, 0.0f, &k, 1);
  const double gram_ns = (now() - t0) / (double)calls * 1e9;
  t0 = now();
  for (long i = 0; i < calls; ++i)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
  const double gemm_ns = (now() - t0) / (double)calls * 1e9;
  printf("{\"gram_ns\":%.3f,\"gemm_ns\":%.3f,\"check\":%.9g}\n", gram_ns, gemm_ns, (double)(k + c));
}

int main(void) {
  char line[256];
  setvbuf(stdout, NULL, _IOLBF, 0);
  while (fgets(line, sizeof line, stdin)) {
    long long a = 0, b = 0, c = 0, d = 0;
    double x = 0;
    if (sscanf(line, "threads %lld", &a) == 1) {
      openblas_set_num_threads((int)a);
      printf("{\"threads\":%d,\"corename\":\"%s\",\"config\":\"%s\"}\n", openblas_get_num_threads(),
             openblas_get_corename(), openblas_get_config());
    } else if (sscanf(line, "gram %lld %lld", &a, &b) == 2) {
      run_gram(a, b);
    } else if (sscanf(line, "layergram %lld %lld %lld %lld", &a, &b, &c, &d) == 4) {
      run_layergram(a, b, c, d);
    } else if (strncmp(line, "layergram_reset", 15) == 0) {
      if (lg.K) memset(lg.K, 0, (size_t)(lg.N * lg.k * lg.N * lg.k) * sizeof(float));
      printf("{\"ok\":true}\n");
    } else if (sscanf(line, "chol %lld %lld %lf", &a, &b, &x) == 3) {
      run_chol(a, b, x);
    } else if (sscanf(line, "pinv %lld %lld %lf", &a, &b, &x) == 3) {
      run_pinv(a, b, x);
    } else if (sscanf(line, "bgi %lld %lld %lld %lf", &a, &b, &c, &x) == 4) {
      run_bgi(a, b, c, x);
    } else if (sscanf(line, "gemm %lld %lld %lld", &a, &b, &c) == 3) {
      run_gemm(a, b, c);
    } else if (sscanf(line, "tiny %lld", &a) == 1) {
      run_tiny((long)a);
    } else if (strncmp(line, "free", 4) == 0) {
      free_all();
      printf("{\"ok\":true}\n");
    } else if (strncmp(line, "quit", 4) == 0) {
      break;
    } else {
      printf("{\"error\":\"unknown command\"}\n");
    }
  }
  free_all();
  return 0;
}
