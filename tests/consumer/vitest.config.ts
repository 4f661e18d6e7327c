import { defineConfig } from 'vitest/config';

// npm install, a server process and a browser: generous limits for a loaded 2-core machine.
export default defineConfig({ test: { testTimeout: 120_000, hookTimeout: 300_000 } });
