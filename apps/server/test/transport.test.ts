import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, type ServedApp, servedApp } from './helpers/app.js';
import { expectUnchanged, migratedTestDatabase, type TestDatabase } from './helpers/database.js';

/** What both tRPC HTTP paths refuse before any call runs, and what REST refuses alike. */
let database: TestDatabase;
const apps: Record<'fast' | 'standard', ServedApp | undefined> = { fast: undefined, standard: undefined };

beforeAll(async () => {
  database = await migratedTestDatabase();
  const env = { RATE_LIMIT_SCALE: '1000000' };
  apps.fast = await servedApp(database, { trpcAdapter: 'fast', env });
  apps.standard = await servedApp(database, { trpcAdapter: 'standard', env });
});
afterAll(async () => {
  await apps.fast?.close();
  await apps.standard?.close();
  await database?.close();
});

const json = (value: unknown) => JSON.stringify(value);
const batchBody = (inputs: unknown[]) => json(Object.fromEntries(inputs.map((input, i) => [i, { json: input }])));

interface TrpcErrorBody {
  error: { json: { code: number; message: string; data: { code: string; httpStatus: number; appCode?: string } } };
}

async function send(app: ServedApp, path: string, init: RequestInit = {}) {
  const response = await fetch(`${app.url}${path}`, init);
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body, headers: response.headers };
}

const post = (body: string, contentType: string | undefined): RequestInit => ({
  method: 'POST',
  // Bytes, so that fetch adds no content type of its own.
  body: new TextEncoder().encode(body),
  headers: contentType === undefined ? {} : { 'content-type': contentType },
});

for (const side of ['fast', 'standard'] as const) {
  const app = () => apps[side] as ServedApp;

  describe(`the ${side} tRPC path`, () => {
    it('a batch over MAX_BATCH_SIZE is refused before any call runs', async () => {
      const users = Array.from({ length: 11 }, () => newUser());
      const path = `/trpc/${Array(11).fill('auth.register').join(',')}?batch=1`;
      const answer = await expectUnchanged(database.db, () => send(app(), path, post(batchBody(users), 'application/json')));
      expect(answer.status).toBe(400);
      expect((answer.body as TrpcErrorBody).error.json.data).toMatchObject({
        code: 'BAD_REQUEST',
        httpStatus: 400,
        appCode: 'BATCH_TOO_LARGE',
      });
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);

      // A query batch of a procedure the lean handler answers, and commas escaped in the path, alike.
      const queries = await send(app(), `/trpc/${Array(11).fill('user.me').join(',')}?batch=1`);
      expect(queries.status).toBe(400);
      expect((queries.body as TrpcErrorBody).error.json.data.appCode).toBe('BATCH_TOO_LARGE');
      const escaped = await send(app(), `/trpc/${Array(11).fill('user.me').join('%2C')}?batch=1`);
      expect((escaped.body as TrpcErrorBody).error.json.data.appCode).toBe('BATCH_TOO_LARGE');
    });

    it('a batch of exactly MAX_BATCH_SIZE calls runs every call', async () => {
      const { accessToken } = await app().caller().auth.register(newUser());
      const answer = await send(app(), `/trpc/${Array(10).fill('user.me').join(',')}?batch=1`, {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      expect(answer.status).toBe(200);
      expect(answer.body).toHaveLength(10);
    });

    it('a POST that is not application/json is 415 and runs nothing', async () => {
      const body = json({ json: newUser() });
      for (const contentType of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        for (const procedure of ['auth.register', 'auth.refresh']) {
          const answer = await expectUnchanged(database.db, () => send(app(), `/trpc/${procedure}`, post(body, contentType)));
          expect({ contentType, procedure, status: answer.status }).toEqual({ contentType, procedure, status: 415 });
          expect((answer.body as TrpcErrorBody).error.json.data.code).toBe('UNSUPPORTED_MEDIA_TYPE');
        }
      }
      // The media type's parameters and case do not matter.
      const user = newUser();
      const fine = await send(app(), '/trpc/auth.register', post(json({ json: user }), 'Application/JSON; charset=utf-8'));
      expect(fine.status).toBe(200);
    });

    it('superjson meta naming unknown types or failing to deserialise is 400 BAD_REQUEST, never 500', async () => {
      // superjson refuses these (an unknown custom type even overflows its stack)...
      const refused = [
        { json: { email: 'x' }, meta: { values: { email: ['custom', 'x'] } } },
        { json: { refreshToken: 'x' }, meta: { values: { refreshToken: ['custom', 'nope'] } } },
        { json: { refreshToken: 'x' }, meta: { values: { refreshToken: 'not a type' } } },
        { json: { refreshToken: 'x' }, meta: { values: { '__proto__.polluted': ['Date'] } } },
        { json: { refreshToken: 'x' }, meta: { values: ['set'] } },
      ];
      // ...and ignores these: the call runs on the plain JSON.
      const ignored = [
        { json: { refreshToken: 'x' }, meta: { referentialEqualities: { refreshToken: ['nope.nope.nope'] } } },
        { json: { refreshToken: 'x' }, meta: 42 },
      ];
      for (const procedure of ['auth.register', 'auth.refresh', 'auth.login']) {
        for (const body of refused) {
          const answer = await send(app(), `/trpc/${procedure}`, post(json(body), 'application/json'));
          expect({ procedure, body, status: answer.status }).toEqual({ procedure, body, status: 400 });
          expect((answer.body as TrpcErrorBody).error.json.data.code).toBe('BAD_REQUEST');
        }
        for (const body of ignored) {
          const answer = await send(app(), `/trpc/${procedure}`, post(json(body), 'application/json'));
          expect({ procedure, body, status: answer.status >= 400 && answer.status < 500 }).toEqual({ procedure, body, status: true });
        }
        const batched = await send(app(), `/trpc/${procedure}?batch=1`, post(json({ 0: refused[0] }), 'application/json'));
        expect(batched.status).toBe(400);
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('a malformed % escape in the procedure path is 400 or 404, never 500', async () => {
      for (const init of [{}, post(json({ json: {} }), 'application/json')]) {
        for (const path of ['/trpc/user.m%E0%A4%A', '/trpc/user.me,user.m%E0%A4%A?batch=1', '/trpc/%?batch=1', '/trpc/auth.refresh%']) {
          const answer = await send(app(), path, init);
          expect([400, 404], `${init.method ?? 'GET'} ${path}: ${answer.status}`).toContain(answer.status);
        }
      }
    });
  });
}

describe('REST', () => {
  it('a POST or PUT that is not application/json is 415 and runs nothing', async () => {
    const user = newUser();
    const body = json({ user });
    for (const contentType of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      for (const [method, path] of [
        ['POST', '/api/users'],
        ['POST', '/api/users/login'],
        ['POST', '/api/auth/refresh'],
        ['PUT', '/api/user'],
      ] as const) {
        const answer = await expectUnchanged(database.db, () => send(apps.fast as ServedApp, path, { ...post(body, contentType), method }));
        expect({ contentType, path, status: answer.status }).toEqual({ contentType, path, status: 415 });
      }
    }
  });
});

describe('throttles', () => {
  it('each call in a batch counts against the throttles as a separate request would', async () => {
    // Its own database and app: the registration throttle (20 an hour per address) as in production.
    const own = await migratedTestDatabase();
    const strict = await servedApp(own, { env: { RATE_LIMIT_SCALE: '1' } });
    try {
      const statuses: number[] = [];
      const appCodes: (string | undefined)[] = [];
      for (const size of [10, 10, 5]) {
        const users = Array.from({ length: size }, () => newUser());
        const answer = await send(
          strict,
          `/trpc/${Array(size).fill('auth.register').join(',')}?batch=1`,
          post(batchBody(users), 'application/json'),
        );
        for (const item of answer.body as ({ result: unknown } | TrpcErrorBody)[]) {
          statuses.push('result' in item ? 200 : item.error.json.data.httpStatus);
          appCodes.push('result' in item ? undefined : item.error.json.data.appCode);
        }
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(20);
      expect(appCodes.slice(20)).toEqual(Array(5).fill('RATE_LIMITED'));
      const count = await own.db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(count.n)).toBe(20);
    } finally {
      await strict.close();
      await own.close();
    }
  });
});
