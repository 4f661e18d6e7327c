import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { grantAdmin } from '../src/admin-grant.js';
import { loadConfig } from '../src/config.js';
import { trpcClient, until } from '../src/testing.js';
import { newUser, TEST_SECRET } from './helpers/app.js';
import { emptyTestDatabase, onPostgres, type TestDatabase } from './helpers/database.js';
import { killAll, listeningLines, listeningPort, type RunningProcess, run } from './helpers/process.js';
import { trpcPost } from './helpers/trpc.js';

// Real processes start PGlite or connect, migrate and listen: allow for a loaded machine.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

/** Several server processes on one PostgreSQL database, as several machines would run them. */
describe.runIf(onPostgres)('several instances on one PostgreSQL database', () => {
  let database: TestDatabase;
  let servers: RunningProcess[] = [];
  let urls: string[] = [];

  const env = () => ({
    DATABASE_URL: database.url ?? '',
    PORT: '0',
    HOST: '127.0.0.1',
    JWT_SECRET: TEST_SECRET,
    BCRYPT_COST: '4',
    LOG_LEVEL: 'info',
  });
  const client = (url: string, accessToken?: string) => trpcClient(url, () => accessToken, { batch: false });
  /** Waits until the instance at `url` refuses the access token, and fails unless that took less than a second. */
  const refusedWithinASecond = async (url: string, accessToken: string) => {
    const started = Date.now();
    await until(
      () =>
        client(url, accessToken)
          .user.me.query()
          .then(
            () => undefined,
            (error: { data?: { appCode?: string } }) => error.data?.appCode,
          ),
      1_000,
    );
    expect(Date.now() - started).toBeLessThan(1_000);
  };

  beforeAll(async () => {
    database = await emptyTestDatabase();
    servers = [run('src/main.ts', env()), run('src/main.ts', env())];
    urls = (await Promise.all(servers.map((s) => listeningPort(s)))).map((port) => `http://127.0.0.1:${port}`);
  });
  afterAll(async () => {
    for (const server of servers) server.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.exited));
    await database?.close();
  });

  it('a logout on one makes the other refuse the access token within one second', async () => {
    const [a, b] = urls as [string, string];
    const session = await client(a).auth.register.mutate(newUser());
    await expect(client(b, session.accessToken).user.me.query()).resolves.toHaveProperty('id', session.user.id);
    await client(a).auth.logout.mutate({ refreshToken: session.refreshToken });
    await refusedWithinASecond(b, session.accessToken);
    await expect(client(b, session.accessToken).user.me.query()).rejects.toMatchObject({ data: { appCode: 'SESSION_REVOKED' } });
  });

  it('disabling a user on one makes the other refuse their access token within one second, and their refresh and login', async () => {
    const [a, b] = urls as [string, string];
    const adminInput = newUser();
    const admin = await client(a).auth.register.mutate(adminInput);
    // The first admin, made as the operator makes it: admin:grant on the same database.
    const config = loadConfig({ DATABASE_URL: database.url ?? '', JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'silent' });
    expect(await grantAdmin(config, adminInput.email)).toMatchObject({ ok: true, changed: true });
    const victimInput = newUser();
    const victim = await client(a).auth.register.mutate(victimInput);
    await expect(client(b, victim.accessToken).user.me.query()).resolves.toHaveProperty('id', victim.user.id);
    await client(a, admin.accessToken).admin.users.disable.mutate({ userId: victim.user.id, reason: 'instances' });
    await refusedWithinASecond(b, victim.accessToken);
    await expect(client(b, victim.accessToken).user.me.query()).rejects.toMatchObject({ data: { appCode: 'SESSION_REVOKED' } });
    await expect(client(b).auth.refresh.mutate({ refreshToken: victim.refreshToken })).rejects.toMatchObject({
      data: { appCode: 'ACCOUNT_DISABLED' },
    });
    await expect(client(b).auth.login.mutate({ email: victimInput.email, password: victimInput.password })).rejects.toMatchObject({
      data: { appCode: 'ACCOUNT_DISABLED' },
    });
    await expect(client(b).auth.login.mutate({ email: victimInput.email, password: 'not the passphrase' })).rejects.toMatchObject({
      data: { appCode: 'INVALID_CREDENTIALS' },
    });
  });

  it('a refresh on one and the same token on the other within the grace window return the same successor', async () => {
    const [a, b] = urls as [string, string];
    const session = await client(a).auth.register.mutate(newUser());
    const first = await client(a).auth.refresh.mutate({ refreshToken: session.refreshToken });
    const second = await client(b).auth.refresh.mutate({ refreshToken: session.refreshToken });
    expect(second.refreshToken).toBe(first.refreshToken);
  });

  it('100 parallel refreshes of one token spread over both leave exactly one live chain and no 500', async () => {
    const session = await client(urls[0] ?? '').auth.register.mutate(newUser());
    const statuses: number[] = [];
    const tokens = new Set<string>();
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const response = await trpcPost(urls[i % 2] ?? '', 'auth.refresh', { refreshToken: session.refreshToken });
        statuses.push(response.status);
        const body = (await response.json()) as { result?: { data: { json: { refreshToken: string } } } };
        if (body.result) tokens.add(body.result.data.json.refreshToken);
      }),
    );
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(tokens.size).toBe(1);
    const row = await database.db
      .selectFrom('sessions')
      .select(['generation', 'revoked_at'])
      .where('user_id', '=', session.user.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ generation: 1, revoked_at: null });
    // The one successor carries the chain on, on either instance.
    const [successor] = [...tokens];
    await expect(client(urls[1] ?? '').auth.refresh.mutate({ refreshToken: successor ?? '' })).resolves.toHaveProperty('refreshToken');
  });
});

describe.runIf(onPostgres)('WEB_CONCURRENCY', () => {
  let database: TestDatabase;
  afterEach(killAll);

  it('starts that many workers sharing one port, and stops them all on SIGTERM', async () => {
    database = await emptyTestDatabase();
    try {
      const server = run('src/main.ts', {
        DATABASE_URL: database.url ?? '',
        PORT: '0',
        HOST: '127.0.0.1',
        JWT_SECRET: TEST_SECRET,
        BCRYPT_COST: '4',
        WEB_CONCURRENCY: '2',
      });
      const port = await listeningPort(server, 2);
      const lines = listeningLines(server);
      expect(lines.map((l) => l.port)).toEqual([port, port]);
      expect(new Set(lines.map((l) => l.pid)).size).toBe(2);
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      expect(await response.json()).toEqual({ status: 'ok', database: 'connected' });
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    } finally {
      await database.close();
    }
  });
});
