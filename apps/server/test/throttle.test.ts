import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanUp, RETENTION_SECONDS } from '../src/jobs/cleanup.job.js';
import { backoffSeconds, LIMITS, LOGIN_BACKOFF } from '../src/modules/throttle/throttle.policy.js';
import { newUser, type ServedApp, servedApp, testApp } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';
import { failure } from './helpers/failure.js';
import { trpcPost } from './helpers/trpc.js';

let database: TestDatabase;
let app: ServedApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  app = await servedApp(database, { env: { RATE_LIMIT_SCALE: '1' } });
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

/** POSTs a tRPC mutation over HTTP with the given headers; returns status, body and Retry-After. */
async function post(path: string, input: unknown, headers: Record<string, string> = {}) {
  const response = await trpcPost(app.url, path, input, headers);
  const body = (await response.json()) as { error?: { json: { data: { appCode?: string; retryAfter?: number } } } };
  return { status: response.status, appCode: body.error?.json.data.appCode, retryAfter: body.error?.json.data.retryAfter };
}

describe('failed logins per account', () => {
  it('101 wrong passwords, each from a different X-Forwarded-For, are refused long before the 100th; the right one works after the back-off', async () => {
    const input = newUser();
    await app.caller().auth.register(input);
    const statuses: number[] = [];
    let lastRetryAfter = 0;
    for (let i = 0; i < 101; i += 1) {
      const result = await post(
        'auth.login',
        { email: input.email, password: `wrong password ${i}` },
        { 'x-forwarded-for': `203.0.113.${i}` },
      );
      statuses.push(result.status);
      if (result.status === 429) lastRetryAfter = result.retryAfter ?? 0;
    }
    expect(statuses.slice(0, LOGIN_BACKOFF.freeFailures)).toEqual(Array(LOGIN_BACKOFF.freeFailures).fill(401));
    expect(statuses.slice(LOGIN_BACKOFF.freeFailures)).toEqual(Array(101 - LOGIN_BACKOFF.freeFailures).fill(429));
    expect(lastRetryAfter).toBeGreaterThan(0);
    // Even the right password waits out the back-off...
    expect((await post('auth.login', { email: input.email, password: input.password })).status).toBe(429);
    // ...and is accepted after it, which also clears the count.
    app.clock.advance(lastRetryAfter);
    expect((await post('auth.login', { email: input.email, password: input.password })).status).toBe(200);
    expect((await post('auth.login', { email: input.email, password: 'wrong again!' })).status).toBe(401);
  });

  it('the wait doubles and is capped; after 100 consecutive failures it is the longest, but never permanent', async () => {
    expect([4, 5, 6, 7, 8].map(backoffSeconds)).toEqual([0, 1, 2, 4, 8]);
    expect(backoffSeconds(40)).toBe(LOGIN_BACKOFF.maxWaitSeconds);
    expect(backoffSeconds(100)).toBe(LOGIN_BACKOFF.hardLimitWaitSeconds);
    const input = newUser();
    await app.caller().auth.register(input);
    const caller = app.caller({ ip: undefined });
    for (let i = 0; i < LOGIN_BACKOFF.hardLimit; i += 1) {
      const result = await failure(caller.auth.login({ email: input.email, password: 'wrong password' }));
      expect(result.appCode).toBe('INVALID_CREDENTIALS');
      if (i < LOGIN_BACKOFF.hardLimit - 1) app.clock.advance(backoffSeconds(i + 1));
    }
    app.clock.advance(LOGIN_BACKOFF.maxWaitSeconds);
    const refused = await failure(caller.auth.login({ email: input.email, password: input.password }));
    expect(refused).toMatchObject({ appCode: 'RATE_LIMITED' });
    expect(refused.retryAfterSeconds).toBe(LOGIN_BACKOFF.hardLimitWaitSeconds - LOGIN_BACKOFF.maxWaitSeconds);
    app.clock.advance(LOGIN_BACKOFF.hardLimitWaitSeconds - LOGIN_BACKOFF.maxWaitSeconds);
    await expect(caller.auth.login(input)).resolves.toHaveProperty('accessToken');
  });

  it('an unknown address is throttled exactly like a known one', async () => {
    const known = newUser();
    await app.caller().auth.register(known);
    const answers = async (email: string) => {
      const out: (string | undefined)[] = [];
      for (let i = 0; i < 7; i += 1)
        out.push((await failure(app.caller({ ip: undefined }).auth.login({ email, password: 'wrong password' }))).appCode);
      return out;
    };
    expect(await answers(`nobody-${known.email}`)).toEqual(await answers(known.email));
  });

  it('a batch of N logins counts as N attempts', async () => {
    const input = newUser();
    await app.caller().auth.register(input);
    const client = app.client();
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => client.auth.login.mutate({ email: input.email, password: 'wrong password' })),
    );
    const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as { data?: { appCode?: string } }).data?.appCode : 'ok'));
    expect(codes.filter((c) => c === 'INVALID_CREDENTIALS')).toHaveLength(LOGIN_BACKOFF.freeFailures);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(8 - LOGIN_BACKOFF.freeFailures);
  });
});

describe('per client address', () => {
  it('failed logins from one address are capped across accounts; TRUST_PROXY=false ignores X-Forwarded-For', async () => {
    const ip = '198.51.100.200';
    const { max } = LIMITS.loginFailuresPerAddress;
    for (let i = 0; i < max; i += 1) {
      const result = await failure(app.caller({ ip }).auth.login({ email: `spray${i}@example.com`, password: 'wrong password' }));
      expect(result.appCode).toBe('INVALID_CREDENTIALS');
    }
    const fresh = newUser();
    await app.caller().auth.register(fresh);
    expect(await failure(app.caller({ ip }).auth.login(fresh))).toMatchObject({ code: 'TOO_MANY_REQUESTS', appCode: 'RATE_LIMITED' });
    // From another address the same account logs in.
    await expect(app.caller({ ip: '198.51.100.201' }).auth.login(fresh)).resolves.toHaveProperty('accessToken');
  });

  it('successful logins do not use up the address allowance', async () => {
    const ip = '198.51.100.210';
    const input = newUser();
    await app.caller().auth.register(input);
    for (let i = 0; i < LIMITS.loginFailuresPerAddress.max + 5; i += 1) await app.caller({ ip }).auth.login(input);
  });

  it('registrations per address are limited and answered with Retry-After', async () => {
    const headers = { 'x-forwarded-for': '192.0.2.99' };
    let last = { status: 0, appCode: undefined as string | undefined, retryAfter: undefined as number | undefined };
    for (let i = 0; i <= LIMITS.registrationsPerAddress.max; i += 1) last = await post('auth.register', newUser('reg'), headers);
    expect(last).toMatchObject({ status: 429, appCode: 'RATE_LIMITED' });
    expect(last.retryAfter).toBeGreaterThan(0);
    expect(last.retryAfter).toBeLessThanOrEqual(LIMITS.registrationsPerAddress.windowSeconds);
    const response = await trpcPost(app.url, 'auth.register', newUser('reg'));
    expect(response.status).toBe(429);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('refreshes per address', () => {
  it('are capped; a refused refresh rotates nothing', async () => {
    const strict = await testApp(database, { env: { RATE_LIMIT_SCALE: '0.01' } }); // 1,200 a minute scaled to 12
    try {
      const ip = '198.51.100.230';
      let refreshToken = (await strict.caller({ ip }).auth.register(newUser())).refreshToken;
      for (let i = 0; i < Math.round(LIMITS.refreshesPerAddress.max * 0.01); i += 1) {
        refreshToken = (await strict.caller({ ip }).auth.refresh({ refreshToken })).refreshToken;
      }
      const refused = await failure(strict.caller({ ip }).auth.refresh({ refreshToken }));
      expect(refused).toMatchObject({ code: 'TOO_MANY_REQUESTS', appCode: 'RATE_LIMITED' });
      expect(refused.retryAfterSeconds).toBeGreaterThan(0);
      strict.clock.advance(refused.retryAfterSeconds ?? 60);
      await expect(strict.caller({ ip }).auth.refresh({ refreshToken })).resolves.toHaveProperty('refreshToken');
    } finally {
      await strict.close();
    }
  });
});

describe('where the counters are written', () => {
  it('through the relaxed handle (synchronous_commit=off on PostgreSQL), by logins and refreshes alike', async () => {
    const statements: string[] = [];
    const relaxed = database.db.withPlugin({
      transformQuery: ({ node }) => {
        statements.push(node.kind);
        return node;
      },
      transformResult: async ({ result }) => result,
    });
    const counted = await testApp({ ...database, relaxed });
    try {
      const session = await counted.caller({ ip: '198.51.100.77' }).auth.register(newUser());
      const afterRegister = statements.length;
      expect(afterRegister).toBeGreaterThan(0);
      await counted.caller({ ip: '198.51.100.77' }).auth.refresh({ refreshToken: session.refreshToken });
      expect(statements.length).toBeGreaterThan(afterRegister);
      const afterRefresh = statements.length;
      await failure(counted.caller({ ip: '198.51.100.77' }).auth.login({ email: session.user.email, password: 'not the password' }));
      expect(statements.length).toBeGreaterThan(afterRefresh);
    } finally {
      await counted.close();
    }
  });
});

describe('cleanup', () => {
  it('deletes long-dead sessions and throttle rows, keeps live ones, and may run on every instance at once', async () => {
    const live = await app.caller().auth.register(newUser());
    const dead = await app.caller().auth.register(newUser());
    await app.caller().auth.logout({ refreshToken: dead.refreshToken });
    app.clock.advance(RETENTION_SECONDS + 1);
    await app.caller().auth.refresh({ refreshToken: live.refreshToken });
    const results = await Promise.all([
      cleanUp(database.db, app.clock, app.config.securityEventRetentionSeconds),
      cleanUp(database.db, app.clock, app.config.securityEventRetentionSeconds),
    ]);
    expect(results.reduce((n, r) => n + r.sessions, 0)).toBeGreaterThanOrEqual(1);
    const rows = await database.db.selectFrom('sessions').select('user_id').where('user_id', 'in', [live.user.id, dead.user.id]).execute();
    expect(rows.map((r) => r.user_id)).toEqual([live.user.id]);
  });
});
