import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migratedTestDatabase, type ServedApp, servedApp, type TestDatabase } from '@latchkey/server/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';

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

it('examples/node-script.ts stays signed in across the expiry of its access token', async () => {
  const root = join(import.meta.dirname, '..');
  const child = spawn(join(root, 'node_modules', '.bin', 'tsx'), ['examples/node-script.ts'], {
    cwd: root,
    env: {
      ...process.env,
      LATCHKEY_URL: server.url,
      LATCHKEY_SESSION_FILE: join(mkdtempSync(join(tmpdir(), 'latchkey-example-')), 's.json'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  expect(output).toMatch(/signed in as demo\w+[\s\S]*still signed in as demo\w+ \(refreshed transparently\)/);
  expect(code).toBe(0);
  expect(server.requests.filter((r) => r.path === '/trpc/auth.refresh' && r.status === 200).length).toBeGreaterThanOrEqual(1);
});
