/** `admin:grant <email>` (issue 16, item 6): the first admin, made from the command line on the server's own database. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { newUser, TEST_SECRET } from './helpers/app.js';
import { onPostgres } from './helpers/database.js';
import { killAll, run } from './helpers/process.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

let dataDir: string;
const env = () => ({ DATA_DIR: dataDir, JWT_SECRET: TEST_SECRET, BCRYPT_COST: '4', LOG_LEVEL: 'silent' });
const user = newUser('granted');

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'latchkey-grant-'));
  // A user registered on the embedded database the command will open.
  const app = await createApp(loadConfig(env()));
  try {
    await app.services.signIn.register(user, { ip: '127.0.0.1', userAgent: 'test' });
  } finally {
    await app.close();
  }
});
afterAll(async () => {
  killAll();
  await rm(dataDir, { recursive: true, force: true });
});

async function grant(...args: string[]) {
  const child = run('src/admin-grant-cli.ts', env(), args);
  const code = await child.exited;
  return { code, ...child.output() };
}

// On the embedded database of DATA_DIR: the same in both projects of the suite, so run in one.
describe.skipIf(onPostgres)('admin:grant', () => {
  it('makes an existing user admin on the configured database, and records it as the system', async () => {
    const { code, stdout } = await grant(user.email.toUpperCase());
    expect(stdout).toContain('is now an admin');
    expect(code).toBe(0);
    expect((await grant(user.email)).stdout).toContain('was already an admin');
    const app = await createApp(loadConfig(env()));
    try {
      const found = await app.services.users.findByEmail(user.email);
      expect(found?.role).toBe('admin');
      const { events } = await app.services.audit.list({ userId: found?.id ?? '', type: 'admin.role_changed' });
      expect(events).toEqual([expect.objectContaining({ actorKind: 'system', actorId: null, details: { from: 'user', to: 'admin' } })]);
    } finally {
      await app.close();
    }
  });

  it('fails with a message for an unknown address, a malformed one, or no argument', async () => {
    expect(await grant('nobody@example.com')).toMatchObject({ code: 1, stderr: expect.stringContaining('No user has the address') });
    expect(await grant('not-an-address')).toMatchObject({ code: 2, stderr: expect.stringContaining('Not an email address') });
    expect(await grant()).toMatchObject({ code: 2, stderr: expect.stringContaining('Usage: admin:grant <email>') });
  });

  it('runs as `cli.js admin:grant <email>` too (node dist/cli.js once built), and refuses other commands', async () => {
    const cli = async (...args: string[]) => {
      const child = run('src/cli.ts', env(), args);
      return { code: await child.exited, ...child.output() };
    };
    expect(await cli('admin:grant', 'nobody@example.com')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('No user has the address'),
    });
    expect(await cli('admin:grant', user.email)).toMatchObject({ code: 0, stdout: expect.stringContaining('admin') });
    expect(await cli('nope')).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown command "nope"') });
    expect(await cli()).toMatchObject({ code: 2, stderr: expect.stringContaining('Usage: node dist/cli.js admin:grant <email>') });
  });
});
