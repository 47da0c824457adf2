import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start their own etcd and S3 servers on free ports; two cores run two files at once.
    maxWorkers: 2,
    pool: 'forks',
  },
});
