import { defineConfig } from "vitest/config";

// e2e tests spawn the built CLI and a sandbox each; two cores, so keep the pool small.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
