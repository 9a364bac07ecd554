import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // native kernels already use both cores; run test files one or two at a time
    maxWorkers: 2,
    // The suite checks the CPU backend; test/cuda.test.ts compares CUDA against it where a GPU exists.
    // NATGRAD_BACKEND=cuda npm test runs everything on the GPU instead.
    env: { NATGRAD_BACKEND: process.env.NATGRAD_BACKEND ?? 'cpu' },
  },
});
