import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { newUser, type ServedApp, servedApp } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';
import { trpcPost } from './helpers/trpc.js';

let database: TestDatabase;
let app: ServedApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  app = await servedApp(database);
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

type ErrorBody = { error: { json: { data: { appCode: string; fields: Record<string, string[]> } } } };

/** The status, appCode and per-field messages of a refused `auth.register`. */
async function register(input: Record<string, unknown>) {
  const response = await trpcPost(app.url, 'auth.register', input);
  const body = (await response.json()) as ErrorBody;
  return { status: response.status, appCode: body.error?.json.data.appCode, fields: body.error?.json.data.fields };
}

const fdfa = '\uFDFA';

/** The longest string the server normalised (NFKC) since the spy was set: the server runs in this process. */
function longestNormalised(): () => number {
  const original = String.prototype.normalize;
  let longest = 0;
  vi.spyOn(String.prototype, 'normalize').mockImplementation(function (this: string, form?: string) {
    longest = Math.max(longest, this.length);
    return original.call(this, form);
  });
  return () => longest;
}
afterEach(() => {
  vi.restoreAllMocks();
});

describe('every string input is bounded as sent, before it is normalised or hashed', () => {
  it('a password that NFKC would expand is refused before it is normalised', async () => {
    expect(fdfa.normalize('NFKC')).toHaveLength(18);
    const longest = longestNormalised();
    const refused = await register({ ...newUser(), password: fdfa.repeat(200_000) });
    expect(refused).toEqual({
      status: 400,
      appCode: 'VALIDATION_FAILED',
      fields: { password: ['is too long (maximum is 256 characters)'] },
    });
    expect(longest()).toBeLessThanOrEqual(1_024);
  });

  it('an email of 300,000 characters is refused before it is normalised', async () => {
    const longest = longestNormalised();
    const refused = await register({ ...newUser(), email: `${'a'.repeat(300_000 - 12)}@example.com` });
    expect(refused).toEqual({
      status: 400,
      appCode: 'VALIDATION_FAILED',
      fields: { email: ['is too long (maximum is 254 characters)'] },
    });
    expect(longest()).toBeLessThanOrEqual(320);
  });

  it('a huge username or bio is refused as too long, with the usual message', async () => {
    expect(await register({ ...newUser(), username: 'a'.repeat(300_000) })).toMatchObject({
      status: 400,
      fields: { username: ['is too long (maximum is 50 characters)'] },
    });
    const session = await app.client().auth.register.mutate(newUser());
    const response = await trpcPost(
      app.url,
      'user.update',
      { bio: ' '.repeat(300_000) },
      { authorization: `Bearer ${session.accessToken}` },
    );
    expect(response.status).toBe(400);
    expect(((await response.json()) as ErrorBody).error.json.data.fields).toEqual({ bio: ['is too long (maximum is 2000 characters)'] });
  });

  it('within the raw bounds, the rules after normalisation keep their messages', async () => {
    // 100 U+FDFA pass the raw bound (100 units) but are 1,800 characters after NFKC.
    expect(await register({ ...newUser(), password: fdfa.repeat(100) })).toMatchObject({
      status: 400,
      fields: { password: ['is too long (maximum is 256 characters)'] },
    });
    expect(await register({ ...newUser(), email: `${'a'.repeat(300)}@example.com` })).toMatchObject({
      status: 400,
      fields: { email: ['is too long (maximum is 254 characters)'] },
    });
    expect(await register({ ...newUser(), username: `  ${'a'.repeat(51)}  ` })).toMatchObject({
      status: 400,
      fields: { username: ['is too long (maximum is 50 characters)'] },
    });
  });
});
