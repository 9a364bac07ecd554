import { defineConfig } from 'vitest/config';

// The CPU paths natgrad can take (NATGRAD_CPU_GEMM, read once per process): natgrad's own kernels on
// this CPU's widest micro-kernel, on the AVX2 one (an AVX2 CPU), on the plain-loop one (an older CPU),
// and OpenBLAS's. `auto` picks one of
// them for this machine; the kernel and optimizer tests run again under each setting, so every path is
// tested on every machine whatever `auto` picks (each test file runs in a process of its own).
const CPU_PATHS = ['natgrad', 'openblas', 'natgrad-avx2', 'natgrad-portable'];
const PATH_TESTS = [
  'test/cpu_path.test.ts',
  'test/kernels.test.ts',
  'test/native.test.ts',
  'test/async_memory.test.ts',
  'test/natural_gradient.test.ts',
  'test/damping.test.ts',
  'test/momentum.test.ts',
  'test/faults.test.ts',
  'test/bad_batch.test.ts',
  'test/concurrency.test.ts',
  'test/per_sample.test.ts',
  'test/chain.test.ts',
  'test/baselines.test.ts',
  'test/cg.test.ts',
  'test/exact_step.test.ts',
];

const shared = {
  testTimeout: 60_000,
  hookTimeout: 60_000,
  // native kernels already use both cores; run test files one or two at a time
  maxWorkers: 2,
};
// The suite checks the CPU backend; test/cuda.test.ts compares CUDA against it where a GPU exists.
// NATGRAD_BACKEND=cuda npm test runs everything on the GPU instead.
const backend = { NATGRAD_BACKEND: process.env.NATGRAD_BACKEND ?? 'cpu' };

export default defineConfig({
  test: {
    ...shared,
    projects: [
      { test: { ...shared, name: 'auto', include: ['test/**/*.test.ts'], env: { ...backend } } },
      ...CPU_PATHS.map((path) => ({
        test: { ...shared, name: `cpu:${path}`, include: PATH_TESTS, env: { ...backend, NATGRAD_CPU_GEMM: path } },
      })),
    ],
  },
});
