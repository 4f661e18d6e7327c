import { defineConfig } from 'vitest/config';

// The smoke test starts the real server, three baselines and the bcrypt baseline: minutes, not seconds, on a busy machine.
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], testTimeout: 240_000 },
});
