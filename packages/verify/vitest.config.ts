import { connect } from 'node:net';
import { defineConfig } from 'vitest/config';

// Revocation awareness needs PostgreSQL: given (TEST_DATABASE_URL / DATABASE_URL) or on 127.0.0.1:5432.
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 500 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
const given = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
const pg = given?.startsWith('postgres')
  ? given
  : (await reachable('127.0.0.1', 5432))
    ? 'postgres://postgres@127.0.0.1:5432/postgres'
    : 'pglite';

export default defineConfig({
  test: { testTimeout: 30_000, hookTimeout: 60_000, env: { LATCHKEY_TEST_DATABASE: pg } },
});
