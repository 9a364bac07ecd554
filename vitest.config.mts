import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // native kernels already use both cores; run test files one or two at a time
    maxWorkers: 2,
  },
});
