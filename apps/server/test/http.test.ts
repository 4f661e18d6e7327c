import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../src/db/database.js';
import { createLogger } from '../src/lib/logger.js';
import { until } from '../src/testing.js';
import { newUser, type ServedApp, servedApp } from './helpers/app.js';
import { expectUnchanged, migratedTestDatabase, type TestDatabase } from './helpers/database.js';
import { rawPost } from './helpers/rest.js';

let database: TestDatabase;
let app: ServedApp;
const logLines: string[] = [];

beforeAll(async () => {
  database = await migratedTestDatabase();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  app = await servedApp(database, { logger: createLogger('info', sink) });
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

describe('tRPC over HTTP', () => {
  it('registers, reads me, refreshes and logs out with the typed client (batched)', async () => {
    let accessToken: string | undefined;
    const client = app.client(() => accessToken);
    const input = newUser();
    const session = await client.auth.register.mutate(input);
    expect(session.user.createdAt).toBeInstanceOf(Date);
    accessToken = session.accessToken;
    const [me, again] = await Promise.all([client.user.me.query(), client.user.me.query()]);
    expect(me.email).toBe(input.email);
    expect(again).toEqual(me);
    const refreshed = await client.auth.refresh.mutate({ refreshToken: session.refreshToken });
    expect(refreshed.accessTokenExpiresAt).toBeInstanceOf(Date);
    accessToken = refreshed.accessToken;
    await expect(client.user.me.query()).resolves.toEqual(me);
    await expect(client.auth.logout.mutate({ refreshToken: refreshed.refreshToken })).resolves.toEqual({ success: true });
    await expect(client.user.me.query()).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED', appCode: 'SESSION_REVOKED', httpStatus: 401 },
    });
  });

  it('accepts `Authorization: Token <jwt>` as the tutorial sends it', async () => {
    const session = await app.client().auth.register.mutate(newUser());
    const response = await fetch(`${app.url}/trpc/user.me`, { headers: { authorization: `Token ${session.accessToken}` } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { result: { data: { json: { id: string } } } };
    expect(body.result.data.json.id).toBe(session.user.id);
  });

  it('gives errors a stable appCode, per-field messages and the right HTTP status', async () => {
    const response = await rawPost(
      `${app.url}/trpc/auth.register`,
      JSON.stringify({ json: { username: 'x', email: 'nope', password: 'password' } }),
    );
    expect(response.status).toBe(400);
    const body = JSON.parse(response.body) as { error: { json: { data: { appCode: string; fields: Record<string, string[]> } } } };
    expect(body.error.json.data.appCode).toBe('VALIDATION_FAILED');
    expect(Object.keys(body.error.json.data.fields).sort()).toEqual(['email', 'password', 'username']);
    expect(body.error.json.data.fields.password).toEqual(['is too common']);

    const input = newUser();
    await app.client().auth.register.mutate(input);
    await expect(app.client().auth.register.mutate({ ...newUser(), email: input.email })).rejects.toMatchObject({
      data: { code: 'CONFLICT', appCode: 'EMAIL_TAKEN', httpStatus: 409 },
    });
    await expect(app.client().auth.login.mutate({ email: input.email, password: 'wrong password!' })).rejects.toMatchObject({
      data: { code: 'UNAUTHORIZED', appCode: 'INVALID_CREDENTIALS', httpStatus: 401 },
    });
  });

  it('refuses malformed JSON with 400 and writes nothing', async () => {
    await expectUnchanged(database.db, async () => {
      const response = await rawPost(`${app.url}/trpc/auth.register`, '{"json": {"username": "malformed", ');
      expect(response.status).toBe(400);
      expect(response.body).not.toMatch(/at .*\.(ts|js):\d+/);
    });
  });

  it('refuses a body over 1 MB with 413 before parsing, declared or chunked, and writes nothing', async () => {
    await expectUnchanged(database.db, async () => {
      const big = JSON.stringify({ json: { ...newUser(), bio: 'x'.repeat(1024 * 1024 + 10) } });
      const declared = await rawPost(`${app.url}/trpc/auth.register`, big);
      expect(declared.status).toBe(413);
      const chunked = await rawPost(`${app.url}/trpc/auth.register`, big, { chunked: true });
      expect(chunked.status).toBe(413);
    });
  });

  it('answers 404 for unknown paths and procedures', async () => {
    expect((await fetch(`${app.url}/nope`)).status).toBe(404);
    expect((await fetch(`${app.url}/trpc/auth.nope`)).status).toBe(404);
  });
});

describe('/health', () => {
  it('is 200 with the database connected', async () => {
    const response = await fetch(`${app.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', database: 'connected' });
  });

  it('is 503 when the database is unreachable, and internal errors carry no detail', async () => {
    const unreachable = await createDatabase({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/nothing' });
    const broken = await servedApp(unreachable, { env: { NODE_ENV: 'production' } });
    try {
      const health = await fetch(`${broken.url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({ status: 'error', database: 'disconnected' });

      const response = await rawPost(
        `${broken.url}/trpc/auth.login`,
        JSON.stringify({ json: { email: 'a@example.com', password: 'whatever1' } }),
      );
      expect(response.status).toBe(500);
      const body = JSON.parse(response.body) as { error: { json: { message: string; data: Record<string, unknown> } } };
      expect(body.error.json.message).toBe('Internal server error');
      expect(body.error.json.data).not.toHaveProperty('stack');
      expect(response.body).not.toMatch(/ECONNREFUSED|select|users|\.ts:\d+/i);
    } finally {
      await broken.close();
      await unreachable.close();
    }
  });
});

describe('logging', () => {
  it('writes one JSON line per request and never a password or token', async () => {
    const input = newUser();
    const client = app.client();
    const session = await client.auth.register.mutate(input);
    await fetch(`${app.url}/trpc/user.me?input=${encodeURIComponent(JSON.stringify({ json: { token: session.refreshToken } }))}`, {
      headers: { authorization: `Bearer ${session.accessToken}`, cookie: `sid=${session.refreshToken}` },
    });
    await client.auth.refresh.mutate({ refreshToken: session.refreshToken });
    // The line is written when the response closes, a moment after the client has it.
    await until(() => logLines.some((line) => line.includes('/trpc/auth.refresh')));

    const text = logLines.join('\n');
    for (const secret of [input.password, session.accessToken, session.refreshToken]) expect(text).not.toContain(secret);
    const requests = logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'request');
    const me = requests.find((entry) => entry.path === '/trpc/user.me');
    expect(me).toMatchObject({ method: 'GET', status: 200, requestId: expect.any(String), durationMs: expect.any(Number) });
  });

  it('censors secrets that reach a log call', () => {
    const lines: string[] = [];
    const logger = createLogger(
      'info',
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    logger.info({ password: 'hunter22', refreshToken: 'rt-secret', headers: { authorization: 'Bearer at-secret', cookie: 'c=1' } }, 'x');
    expect(lines.join('')).not.toMatch(/hunter22|rt-secret|at-secret|c=1/);
  });
});

describe('graceful shutdown', () => {
  it('lets an in-flight request finish, then refuses new connections', async () => {
    const slow = await servedApp(database, { env: { BCRYPT_COST: '11' } });
    const input = newUser();
    await slow.client().auth.register.mutate(input);
    const inFlight = slow.client().auth.login.mutate(input);
    await until(() => slow.http.inFlight() === 1);
    await slow.http.close(5_000);
    await expect(inFlight).resolves.toMatchObject({ user: { email: input.email } });
    await expect(fetch(`${slow.url}/health`)).rejects.toThrow();
  });
});
