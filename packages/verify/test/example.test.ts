import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { migratedTestDatabase, newUser, onPostgres, type ServedApp, servedApp, type TestDatabase, until } from '@latchkey/server/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';

let database: TestDatabase;
let server: ServedApp;
let child: ChildProcessByStdio<null, Readable, Readable> | undefined;
let output = '';

beforeAll(async () => {
  database = await migratedTestDatabase();
  // The example verifies with the real clock, so the server issues tokens on real time too.
  server = await servedApp(database, { clock: 'shifted' });
});
afterAll(async () => {
  child?.kill('SIGKILL');
  await server?.close();
  await database?.close();
});

/** Starts examples/service.ts as a user would (tsx) and resolves to the URL it listens on. */
async function startExample(): Promise<string> {
  const root = join(import.meta.dirname, '..');
  const started = spawn(join(root, 'node_modules', '.bin', 'tsx'), ['examples/service.ts'], {
    cwd: root,
    env: { ...process.env, LATCHKEY_URL: server.url, JWT_SECRET: '', PORT: '0', DATABASE_URL: onPostgres ? (database.url ?? '') : '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = started;
  started.stdout.on('data', (chunk) => {
    output += chunk;
  });
  started.stderr.on('data', (chunk) => {
    output += chunk;
  });
  await until(() => /listening on (\S+)/.test(output) || started.exitCode !== null, 20_000);
  const url = /listening on (\S+)/.exec(output)?.[1];
  if (!url) throw new Error(`the example did not start:\n${output}`);
  return url;
}

it('examples/service.ts accepts the server’s tokens, refuses others, and stops cleanly on SIGTERM', async () => {
  const url = await startExample();
  expect(output).toContain(onPostgres ? '(revocation on)' : '(revocation off)');
  const session = await server.client().auth.register.mutate(newUser());

  const me = await fetch(`${url}/me`, { headers: { authorization: `Bearer ${session.accessToken}` } });
  expect(me.status).toBe(200);
  expect(await me.json()).toMatchObject({ userId: session.user.id, expiresAt: session.accessTokenExpiresAt.toISOString() });

  const anonymous = await fetch(`${url}/me`);
  expect(anonymous.status).toBe(401);
  expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
  expect(await anonymous.json()).toMatchObject({ error: { code: 'ACCESS_TOKEN_MISSING' } });

  if (onPostgres) {
    await server.client().auth.logout.mutate({ refreshToken: session.refreshToken });
    await until(async () => {
      const response = await fetch(`${url}/me`, { headers: { authorization: `Bearer ${session.accessToken}` } });
      return response.status === 401 && ((await response.json()) as { error: { code: string } }).error.code === 'SESSION_REVOKED';
    }, 1_000);
  }

  const running = child;
  if (!running) throw new Error('the example is not running');
  const exited = new Promise((resolve) => running.once('exit', (code, signal) => resolve({ code, signal })));
  running.kill('SIGTERM');
  // Exiting on its own after SIGTERM shows that close() left no connection or timer open.
  expect(await exited).toEqual({ code: 0, signal: null });
  child = undefined;
});
