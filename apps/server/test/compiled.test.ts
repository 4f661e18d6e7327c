import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { onPostgres } from './helpers/database.js';
import { killAll, listeningPort, run } from './helpers/process.js';

// The compiled server (`pnpm build` -> dist/), as `pnpm start` and `npx latchkey` run it: no tsx.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

afterEach(killAll);

/** A data folder of the test's own: the server writes its generated secret and mail files there. */
const dataDir = () => mkdtempSync(join(tmpdir(), 'latchkey-compiled-'));

describe.skipIf(onPostgres)('the compiled server', () => {
  it('`latchkey start` runs dist/main.js without a TypeScript loader, answers /health and stops cleanly', async () => {
    const server = run(
      'bin/latchkey.js',
      { PORT: '0', HOST: '127.0.0.1', DATABASE_URL: 'memory://', DATA_DIR: dataDir(), BCRYPT_COST: '4' },
      ['start'],
    );
    const port = await listeningPort(server);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(await health.json()).toEqual({ status: 'ok', database: 'connected' });
    // The hash pool's worker file is copied into dist: a registration hashes a password in it.
    const registered = await fetch(`http://127.0.0.1:${port}/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: { username: 'compiled', email: 'compiled@example.com', password: 'a long compiled passphrase' } }),
    });
    expect(registered.status).toBe(201);

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('`latchkey migrate` brings a database up to date', async () => {
    const migrate = run('bin/latchkey.js', { DATABASE_URL: 'memory://', DATA_DIR: dataDir() }, ['migrate']);
    expect(await migrate.exited).toBe(0);
    expect(migrate.output().stdout).toMatch(/^Applied: /);
  });

  it('`latchkey admin:grant <email>` makes a registered user admin on the embedded database, and says when there is no such user', async () => {
    const env = { DATA_DIR: dataDir(), BCRYPT_COST: '4' };
    const server = run('bin/latchkey.js', { ...env, PORT: '0', HOST: '127.0.0.1' }, ['start']);
    const port = await listeningPort(server);
    const registered = await fetch(`http://127.0.0.1:${port}/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: { username: 'firstadmin', email: 'first-admin@example.com', password: 'a long compiled passphrase' } }),
    });
    expect(registered.status).toBe(201);
    // PGlite's data directory is one process's at a time: the server stops first, as the docs say.
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);

    const grant = run('bin/latchkey.js', env, ['admin:grant', 'first-admin@example.com']);
    expect(await grant.exited).toBe(0);
    expect(grant.output().stdout).toContain('first-admin@example.com');
    const missing = run('bin/latchkey.js', env, ['admin:grant', 'nobody@example.com']);
    expect(await missing.exited).toBe(1);
  });

  it('an unknown command prints the usage and exits 64', async () => {
    const unknown = run('bin/latchkey.js', {}, ['serve']);
    expect(await unknown.exited).toBe(64);
    expect(unknown.output().stderr).toContain('Usage: latchkey <command>');
  });

  it('`pnpm start` builds when a source is newer than dist, and builds nothing once dist is current', async () => {
    // The first check builds only if this checkout's sources changed since the last build.
    expect(await run('scripts/build-if-stale.mjs', {}).exited).toBe(0);
    const main = join(import.meta.dirname, '..', 'dist', 'main.js');
    const builtAt = statSync(main).mtimeMs;
    const again = run('scripts/build-if-stale.mjs', {});
    expect(await again.exited).toBe(0);
    expect(again.output().stderr).toBe('');
    expect(statSync(main).mtimeMs).toBe(builtAt);
  });
});
