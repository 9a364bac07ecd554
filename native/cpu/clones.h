// Function multi-versioning for natgrad's plain-loop kernels. On x86-64 (GCC), target_clones compiles one
// clone per ISA and the loader picks the one this CPU runs (so one binary is fast on SSE, AVX2 and
// AVX-512 machines); elsewhere (linux-arm64) a single build, vectorised by the compiler for the target.
//   NATGRAD_CLONES_AVX512_HASWELL  clones for avx512f, arch=haswell (AVX2 + FMA) and the baseline
//   NATGRAD_CLONES_HASWELL         clones for arch=haswell and the baseline
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NATGRAD_CLONES_AVX512_HASWELL __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#define NATGRAD_CLONES_HASWELL __attribute__((target_clones("arch=haswell", "default")))
#else
#define NATGRAD_CLONES_AVX512_HASWELL
#define NATGRAD_CLONES_HASWELL
#endif
