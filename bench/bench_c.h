/* Shared by the plain-C reference programs (bench/ceiling.c, bench/step_floor.c),
 * each a single translation unit that includes this once. */
#ifndef NATGRAD_BENCH_C_H
#define NATGRAD_BENCH_C_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Debian's static libopenblas.a is partly Fortran; the few libgfortran entry
 * points its LAPACK references, as in native/cpu/gfortran_runtime.cc (never
 * reached by the routines timed here, which only need them to link). */
void _gfortran_concat_string(size_t destlen, char* dest, size_t len1, const char* s1, size_t len2, const char* s2) {
  if (len1 >= destlen) { memcpy(dest, s1, destlen); return; }
  memcpy(dest, s1, len1);
  dest += len1; destlen -= len1;
  if (len2 >= destlen) { memcpy(dest, s2, destlen); return; }
  memcpy(dest, s2, len2);
  memset(dest + len2, ' ', destlen - len2);
}
float _gfortran_etime(void* descriptor) { (void)descriptor; return 0.0f; }

/* Monotonic seconds. */
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* n floats, zeroed (every page touched now, outside any timed region); exits on failure. */
static float* xalloc_named(const char* program, int64_t n) {
  float* p = (float*)malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (!p) { fprintf(stderr, "%s: out of memory (%lld floats)\n", program, (long long)n); exit(2); }
  memset(p, 0, (size_t)(n > 0 ? n : 1) * sizeof(float));
  return p;
}
#endif
