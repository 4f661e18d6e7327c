import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORGOT_PASSWORD_MESSAGE } from '../src/modules/account/account.service.js';
import { newUser, type ServedApp, servedApp } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';

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

async function call(method: 'GET' | 'POST', path: string, body?: unknown) {
  const response = await fetch(`${app.url}${path}`, {
    method,
    ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The token of the mail of this kind to this address, other than those given (mails queued at one instant have no order). */
async function tokenMailedTo(email: string, kind: string, except: string[] = []): Promise<string> {
  const tokens = (await app.mails())
    .filter((m) => m.to === email && m.kind === kind)
    .map((mail) => {
      const link = new URL(mail.links[0] ?? 'http://x/');
      return link.searchParams.get('token') ?? new URLSearchParams(link.hash.slice(1)).get('token') ?? '';
    })
    .filter((token) => !except.includes(token));
  expect(tokens).toHaveLength(1);
  return tokens[0] ?? '';
}

describe('REST mail routes', () => {
  it('GET /api/auth/verify-email: 200 once, then 404; 410 when expired; 422 without a token', async () => {
    const input = newUser();
    await call('POST', '/api/users', { user: input });
    const token = await tokenMailedTo(input.email, 'verify_email');
    expect(await call('GET', `/api/auth/verify-email?token=${token}`)).toEqual({
      status: 200,
      body: { message: 'Email address confirmed' },
    });
    expect((await call('GET', `/api/auth/verify-email?token=${token}`)).status).toBe(404);
    expect((await call('GET', '/api/auth/verify-email')).status).toBe(422);

    const late = newUser();
    await call('POST', '/api/users', { user: late });
    const lateToken = await tokenMailedTo(late.email, 'verify_email');
    app.clock.advance(24 * 3600 + 1);
    expect((await call('GET', `/api/auth/verify-email?token=${lateToken}`)).status).toBe(410);
  });

  it('POST /api/auth/forgot-password answers the same for any email', async () => {
    const input = newUser();
    await call('POST', '/api/users', { user: input });
    const known = await call('POST', '/api/auth/forgot-password', { email: input.email });
    const unknown = await call('POST', '/api/auth/forgot-password', { email: `nobody-${input.email}` });
    expect(known).toEqual({ status: 200, body: { message: FORGOT_PASSWORD_MESSAGE } });
    expect(unknown).toEqual(known);
    expect((await call('POST', '/api/auth/forgot-password', {})).status).toBe(422);
  });

  it('POST /api/auth/reset-password: 422 for a weak password (link kept), 200, then 404; 410 when expired', async () => {
    const input = newUser();
    await call('POST', '/api/users', { user: input });
    await call('POST', '/api/auth/forgot-password', { email: input.email });
    const token = await tokenMailedTo(input.email, 'reset_password');
    const weak = await call('POST', '/api/auth/reset-password', { token, new_password: 'password' });
    expect(weak.status).toBe(422);
    expect(weak.body).toMatchObject({ errors: { new_password: expect.any(Array) } });
    const newPassword = 'a brand new passphrase';
    expect((await call('POST', '/api/auth/reset-password', { token, new_password: newPassword })).status).toBe(200);
    expect((await call('POST', '/api/auth/reset-password', { token, new_password: newPassword })).status).toBe(404);
    expect((await call('POST', '/api/users/login', { user: { email: input.email, password: newPassword } })).status).toBe(200);

    await call('POST', '/api/auth/forgot-password', { email: input.email });
    const lateToken = await tokenMailedTo(input.email, 'reset_password', [token]);
    app.clock.advance(3600 + 1);
    expect((await call('POST', '/api/auth/reset-password', { token: lateToken, new_password: 'another long passphrase' })).status).toBe(
      410,
    );
  });
});
