import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { newUser, until } from '../src/testing.js';
import { emptyTestDatabase, onPostgres } from './helpers/database.js';
import { killAll, listeningPort, run } from './helpers/process.js';
import { trpcPost } from './helpers/trpc.js';

// Real processes start PGlite or connect, migrate and listen: allow for a loaded machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

afterEach(killAll);

describe.skipIf(onPostgres)('the server process', () => {
  it('starts on the embedded database, serves, and stops cleanly on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-'));
    const server = run('src/main.ts', { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, BCRYPT_COST: '4' });
    const port = await listeningPort(server);
    expect(server.output().stdout).toContain('JWT_SECRET is not set');

    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(await health.json()).toEqual({ status: 'ok', database: 'connected' });

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.output().stdout).toContain('"msg":"stopped"');
  });

  it('a server the tests start without DATA_DIR keeps its secret and mail in a temporary directory, not apps/server/.data', async () => {
    const server = run('src/main.ts', { DATABASE_URL: 'memory://', PORT: '0', HOST: '127.0.0.1', BCRYPT_COST: '4' });
    expect(server.dataDir.startsWith(tmpdir())).toBe(true);
    const port = await listeningPort(server);
    const user = newUser();
    expect((await trpcPost(`http://127.0.0.1:${port}`, 'auth.register', user)).status).toBe(200);
    const mailDir = join(server.dataDir, 'mail');
    const [file] = await until(() => (existsSync(mailDir) && readdirSync(mailDir).length > 0 ? readdirSync(mailDir) : undefined), 20_000);
    expect(readFileSync(join(mailDir, file ?? ''), 'utf8')).toContain(`To: ${user.email}`);
    expect(existsSync(join(server.dataDir, 'jwt-secret'))).toBe(true);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('refuses a bad configuration with one line naming the variable', async () => {
    const server = run('src/main.ts', { DATABASE_URL: 'memory://', BCRYPT_COST: '3' });
    expect(await server.exited).toBe(1);
    const lines = server.output().stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/BCRYPT_COST/);
  });

  it('refuses a malformed JWT_SECRET_PREVIOUS with one line naming it, and not echoing it', async () => {
    const short = 'a-previous-secret-too-short';
    const server = run('src/main.ts', { DATABASE_URL: 'memory://', JWT_SECRET: 'x'.repeat(40), JWT_SECRET_PREVIOUS: short });
    expect(await server.exited).toBe(1);
    const lines = server.output().stderr.trim().split('\n');
    expect(lines).toEqual(['Invalid configuration: JWT_SECRET_PREVIOUS must be at least 32 bytes']);
    expect(server.output().stdout).not.toContain(short);
  });

  it('refuses to start in production without JWT_SECRET', async () => {
    const server = run('src/main.ts', { DATABASE_URL: 'memory://', NODE_ENV: 'production' });
    expect(await server.exited).toBe(1);
    expect(server.output().stderr.trim()).toMatch(/^Invalid configuration: JWT_SECRET/);
  });

  it('db:migrate brings an embedded database up to date, then reports it current', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-'));
    const first = run('src/migrate.ts', { DATA_DIR: dataDir });
    expect(await first.exited).toBe(0);
    expect(first.output().stdout).toMatch(/Applied: .*users_and_sessions/);
    const second = run('src/migrate.ts', { DATA_DIR: dataDir });
    expect(await second.exited).toBe(0);
    expect(second.output().stdout).toContain('up to date');
  });
});

describe.runIf(onPostgres)('server processes on PostgreSQL', () => {
  it('two instances starting at once on an empty database both migrate it safely and serve', async () => {
    const database = await emptyTestDatabase();
    try {
      const env = { DATABASE_URL: database.url ?? '', PORT: '0', HOST: '127.0.0.1', JWT_SECRET: 'x'.repeat(40), BCRYPT_COST: '4' };
      const servers = [run('src/main.ts', env), run('src/main.ts', env)];
      const ports = await Promise.all(servers.map(listeningPort));
      for (const port of ports) {
        const response = await fetch(`http://127.0.0.1:${port}/health`);
        expect(await response.json()).toEqual({ status: 'ok', database: 'connected' });
      }
      for (const server of servers) server.child.kill('SIGTERM');
      expect(await Promise.all(servers.map((s) => s.exited))).toEqual([0, 0]);
    } finally {
      await database.close();
    }
  });
});
