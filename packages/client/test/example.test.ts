import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migratedTestDatabase, newUser, type ServedApp, servedApp, type TestDatabase, totpCode } from '@latchkey/server/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileStorage } from '../src/node.js';

let database: TestDatabase;
let server: ServedApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  server = await servedApp(database, { clock: 'shifted', env: { ACCESS_TOKEN_TTL: '3s' } });
});
afterAll(async () => {
  await server?.close();
  await database?.close();
});

/** Runs examples/node-script.ts as `pnpm example` does (after its build), on the given session file. */
async function runExample(sessionFile: string, env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const root = join(import.meta.dirname, '..');
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/node-script.ts'], {
    cwd: root,
    env: { ...process.env, LATCHKEY_URL: server.url, LATCHKEY_SESSION_FILE: sessionFile, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, output };
}

const freshSessionFile = () => join(mkdtempSync(join(tmpdir(), 'latchkey-example-')), 's.json');

it('examples/node-script.ts stays signed in across the expiry of its access token', async () => {
  const { code, output } = await runExample(freshSessionFile());
  expect(output).toMatch(/signed in as demo\w+[\s\S]*still signed in as demo\w+ \(refreshed transparently\)/);
  expect(code).toBe(0);
  expect(server.requests.filter((r) => r.path === '/trpc/auth.refresh' && r.status === 200).length).toBeGreaterThanOrEqual(1);
});

it('a stale session file (its session ended on the server) makes the example sign in again, with no unhandled error', async () => {
  const file = freshSessionFile();
  const stale = await server.client().auth.register.mutate(newUser());
  await server.client(() => stale.accessToken).auth.logoutAll.mutate();
  await fileStorage(file).set({ generation: 1, session: stale });

  const { code, output } = await runExample(file);
  expect(output).toContain('The stored session has ended: signing in again.');
  expect(output).toMatch(/signed in as demo\w+[\s\S]*still signed in as demo\w+/);
  expect(output).not.toMatch(/TRPCClientError|\n\s+at /);
  expect(code).toBe(0);
});

it('signs in as a user with an authenticator app: login asks for the second factor, the code completes it', async () => {
  const input = newUser('example');
  const registered = await server.client().auth.register.mutate(input);
  const as = server.client(() => registered.accessToken);
  const { factorId, secret } = await as.auth.mfa.totp.enroll.mutate();
  await as.auth.mfa.totp.confirm.mutate({ factorId, code: totpCode(secret, server.clock.now()) });
  server.requests.length = 0;

  const { code, output } = await runExample(freshSessionFile(), {
    LATCHKEY_EMAIL: input.email,
    LATCHKEY_PASSWORD: input.password,
    // The next time step's code (one step either side is accepted): the step confirm used is not
    // accepted again, and moving the server's clock would lengthen the example's wait.
    LATCHKEY_MFA_CODE: totpCode(secret, new Date(server.clock.now().getTime() + 30_000)),
  });
  expect(output).toContain(`signed in as ${input.username}`);
  expect(output).toContain(`still signed in as ${input.username} (refreshed transparently)`);
  expect(code).toBe(0);
  expect(server.requests.filter((r) => r.path === '/trpc/auth.mfa.verify').map((r) => r.status)).toEqual([200]);
});
