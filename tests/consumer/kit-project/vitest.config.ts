import { defineConfig } from 'vitest/config';

// The first kit of each test process starts PGlite (seconds on a busy machine); later kits take milliseconds.
export default defineConfig({ test: { hookTimeout: 60_000 } });
