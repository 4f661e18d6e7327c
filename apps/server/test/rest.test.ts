import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createDatabase } from '../src/db/database.js';
import { fromAppError } from '../src/http/rest/errors.js';
import { createRestHandler } from '../src/http/rest/handler.js';
import { defineRoute } from '../src/http/rest/route.js';
import { restRoutes } from '../src/http/rest/routes.js';
import { errorResponse, messageResponse, sessionResponse, tokensResponse, userResponse } from '../src/http/rest/schemas.js';
import { MAX_BODY_BYTES } from '../src/http/server.js';
import { AppError } from '../src/lib/errors.js';
import { createLogger } from '../src/lib/logger.js';
import { LIMITS, LOGIN_BACKOFF } from '../src/modules/throttle/throttle.policy.js';
import { until } from '../src/testing.js';
import { newUser, type ServedApp, servedApp } from './helpers/app.js';
import { expectUnchanged, migratedTestDatabase, type TestDatabase } from './helpers/database.js';
import { type Answer, rawPost, restClient } from './helpers/rest.js';
import { trpcPost } from './helpers/trpc.js';

let database: TestDatabase;
let app: ServedApp;
let call: ReturnType<typeof restClient>;
const logLines: string[] = [];

beforeAll(async () => {
  database = await migratedTestDatabase();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  // Behind a proxy, as in production: each test client comes from an X-Forwarded-For of its own.
  // Throttles at their production values (the test kit scales per-address limits up by default).
  app = await servedApp(database, { env: { TRUST_PROXY: 'true', RATE_LIMIT_SCALE: '1' }, logger: createLogger('info', sink) });
  call = restClient(app.url);
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

const unchanged = <T>(action: () => Promise<T>) => expectUnchanged(database.db, action);

async function register(input = newUser()) {
  const answer = await call('POST', '/api/users', { json: { user: input } });
  expect(answer.status).toBe(201);
  return { input, ...sessionResponse.parse(answer.body) };
}

/** The RealWorld error shape, exactly: `{ errors: { field: [messages] } }` plus the appCode; and as documented. */
function expectErrors(answer: Answer, status: number, errors: Record<string, string[]>, code?: string) {
  expect(answer.status).toBe(status);
  expect(answer.body).toEqual({ errors, ...(code !== undefined && { code }) });
  errorResponse.parse(answer.body);
}

describe('POST /api/users', () => {
  it('registers: 201 with user (token included), access_token and refresh_token, snake_case, nothing else', async () => {
    const input = newUser();
    const answer = await call('POST', '/api/users', { json: { user: input } });
    expect(answer.status).toBe(201);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const body = sessionResponse.parse(answer.body);
    expect(answer.body).toEqual({
      user: {
        email: input.email,
        username: input.username,
        bio: null,
        image: null,
        email_verified: false,
        pending_email: null,
        token: body.access_token,
      },
      access_token: expect.stringMatching(/^eyJ/),
      refresh_token: expect.any(String),
      device_token: expect.any(String),
    });
    expect(body.refresh_token).not.toBe(body.access_token);
    const row = await database.db.selectFrom('users').select(['email', 'username']).where('email', '=', input.email).executeTakeFirst();
    expect(row).toEqual({ email: input.email, username: input.username });
  });

  it('is the same service as auth.register: the tRPC API knows the user and takes its token', async () => {
    const { input, access_token } = await register();
    const me = await app.client(() => access_token).user.me.query();
    expect(me).toMatchObject({ email: input.email, username: input.username, bio: null, image: null, emailVerified: false });
  });

  it('trims and validates like the procedure; 422 lists every invalid field in RealWorld form; nothing is written', async () => {
    await unchanged(async () => {
      expectErrors(
        await call('POST', '/api/users', { json: { user: { username: 'x', email: 'nope', password: 'password' } } }),
        422,
        { username: ['is too short (minimum is 3 characters)'], email: ['is invalid'], password: ['is too common'] },
        'VALIDATION_FAILED',
      );
      expectErrors(
        await call('POST', '/api/users', { json: { user: {} } }),
        422,
        { username: ["can't be blank"], email: ["can't be blank"], password: ["can't be blank"] },
        'VALIDATION_FAILED',
      );
      expectErrors(
        await call('POST', '/api/users', { json: { user: { email: 42, password: 'short' } } }),
        422,
        { username: ["can't be blank"], email: ["can't be blank"], password: ['is too short (minimum is 8 characters)'] },
        'VALIDATION_FAILED',
      );
      expectErrors(await call('POST', '/api/users', { json: {} }), 422, { user: ["can't be blank"] }, 'VALIDATION_FAILED');
      expectErrors(await call('POST', '/api/users', { json: { user: 'alice' } }), 422, { user: ['is invalid'] }, 'VALIDATION_FAILED');
      expectErrors(await call('POST', '/api/users', { json: [1, 2] }), 422, { body: ['is invalid'] }, 'VALIDATION_FAILED');
    });
  });

  it("the tutorial's passwordnew is refused as too common, at registration and as a new password", async () => {
    const { input, access_token } = await register();
    await unchanged(async () => {
      expectErrors(
        await call('POST', '/api/users', { json: { user: { ...newUser(), password: 'passwordnew' } } }),
        422,
        { password: ['is too common'] },
        'VALIDATION_FAILED',
      );
      expectErrors(
        await call('PUT', '/api/user', {
          token: access_token,
          json: { user: { password: 'passwordnew', current_password: input.password } },
        }),
        422,
        { password: ['is too common'] },
        'VALIDATION_FAILED',
      );
    });
  });

  it('409 when the email or the username is taken (case-insensitively); nothing is written', async () => {
    const { input } = await register();
    await unchanged(async () => {
      expectErrors(
        await call('POST', '/api/users', { json: { user: { ...newUser(), email: input.email.toUpperCase() } } }),
        409,
        { email: ['has already been taken'] },
        'EMAIL_TAKEN',
      );
      expectErrors(
        await call('POST', '/api/users', { json: { user: { ...newUser(), username: input.username } } }),
        409,
        { username: ['has already been taken'] },
        'USERNAME_TAKEN',
      );
    });
  });

  it('400 for malformed JSON, without echoing the body; nothing is written', async () => {
    await unchanged(async () => {
      const answer = await call('POST', '/api/users', { raw: '{"user": {"password": "hunter2hunter2", ', contentType: 'application/json' });
      expectErrors(answer, 400, { body: ['is not valid JSON'] });
      expect(JSON.stringify(answer.body)).not.toContain('hunter2');
      expectErrors(await call('POST', '/api/users', { raw: '', contentType: 'application/json' }), 400, { body: ['is not valid JSON'] });
    });
  });

  it('415 for a body that is not JSON (a form, text, no Content-Type); nothing is written', async () => {
    const input = newUser();
    await unchanged(async () => {
      const form = new URLSearchParams({ 'user[email]': input.email, 'user[username]': input.username, 'user[password]': input.password });
      for (const contentType of ['application/x-www-form-urlencoded', 'text/plain', undefined]) {
        const answer = await call('POST', '/api/users', { raw: String(form), ...(contentType && { contentType }) });
        expectErrors(answer, 415, { body: ['must be JSON (Content-Type: application/json)'] });
      }
      // JSON sent as text/plain is still refused: the media type is the contract, not a guess.
      expect((await call('POST', '/api/users', { json: { user: input }, contentType: 'text/plain' })).status).toBe(415);
    });
    // A charset parameter is fine.
    expect((await call('POST', '/api/users', { json: { user: input }, contentType: 'application/json; charset=utf-8' })).status).toBe(201);
  });

  it('413 for a body over 1 MB, declared or chunked, before it is parsed; nothing is written', async () => {
    const big = JSON.stringify({ user: { ...newUser(), bio: 'x'.repeat(MAX_BODY_BYTES + 10) } });
    await unchanged(async () => {
      const declared = await rawPost(`${app.url}/api/users`, big);
      expect(declared.status).toBe(413);
      expect(JSON.parse(declared.body)).toEqual({ errors: { body: [`is too large (maximum is ${MAX_BODY_BYTES} bytes)`] } });
      const chunked = await rawPost(`${app.url}/api/users`, big, { chunked: true });
      expect(chunked.status).toBe(413);
    });
  });

  it('405 with Allow for another method', async () => {
    const answer = await call('GET', '/api/users');
    expectErrors(answer, 405, { method: ['GET is not allowed here'] });
    expect(answer.headers.get('allow')).toBe('POST, OPTIONS');
  });

  it('throttles registrations per client address, and the address is the one tRPC uses (X-Forwarded-For behind TRUST_PROXY)', async () => {
    const address = '203.0.113.77';
    for (let i = 0; i < LIMITS.registrationsPerAddress.max; i += 1) {
      const answer = await call('POST', '/api/users', { json: { user: newUser() }, headers: { 'x-forwarded-for': address } });
      expect(answer.status).toBe(201);
    }
    const refused = await unchanged(() =>
      call('POST', '/api/users', { json: { user: newUser() }, headers: { 'x-forwarded-for': `192.0.2.1, ${address}` } }),
    );
    expectErrors(refused, 429, { request: ['too many attempts, try again later'] }, 'RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // The same count as tRPC's: its register is refused for that address too.
    const trpc = await trpcPost(app.url, 'auth.register', newUser(), { 'x-forwarded-for': address });
    expect(trpc.status).toBe(429);
    // Another address is not affected, and its session records that address.
    const other = await call('POST', '/api/users', { json: { user: newUser() }, headers: { 'x-forwarded-for': '203.0.113.78' } });
    expect(other.status).toBe(201);
    const { refresh_token } = sessionResponse.parse(other.body);
    await call('POST', '/api/auth/logout', { json: { refresh_token } });
    const ips = await database.db.selectFrom('sessions').select('ip').where('ip', 'in', [address, '203.0.113.78']).execute();
    expect(new Set(ips.map((r) => r.ip))).toEqual(new Set([address, '203.0.113.78']));
  });
});

describe('POST /api/users/login', () => {
  it('200 with the same shape as registration; the email is matched as the procedure matches it', async () => {
    const { input } = await register();
    const answer = await call('POST', '/api/users/login', {
      json: { user: { email: `  ${input.email.toUpperCase()} `, password: input.password } },
    });
    expect(answer.status).toBe(200);
    const body = sessionResponse.parse(answer.body);
    expect(body.user).toEqual({
      email: input.email,
      username: input.username,
      bio: null,
      image: null,
      email_verified: false,
      pending_email: null,
      token: body.access_token,
    });
  });

  it('logs in a user registered over tRPC', async () => {
    const input = newUser();
    await app.client().auth.register.mutate(input);
    const answer = await call('POST', '/api/users/login', { json: { user: { email: input.email, password: input.password } } });
    expect(answer.status).toBe(200);
  });

  it('401 alike for a wrong password and an unknown email; no session is created', async () => {
    const { input } = await register();
    await unchanged(async () => {
      const wrong = await call('POST', '/api/users/login', { json: { user: { email: input.email, password: 'not the password' } } });
      const unknown = await call('POST', '/api/users/login', {
        json: { user: { email: `nobody-${input.email}`, password: input.password } },
      });
      for (const answer of [wrong, unknown]) expectErrors(answer, 401, { 'email or password': ['is invalid'] }, 'INVALID_CREDENTIALS');
    });
  });

  it('422 for missing fields; 400 and 415 for what is not JSON; nothing is written', async () => {
    await unchanged(async () => {
      expectErrors(
        await call('POST', '/api/users/login', { json: { user: { email: '' } } }),
        422,
        { email: ["can't be blank"], password: ["can't be blank"] },
        'VALIDATION_FAILED',
      );
      expect((await call('POST', '/api/users/login', { raw: '{', contentType: 'application/json' })).status).toBe(400);
      expect((await call('POST', '/api/users/login', { raw: 'email=a', contentType: 'application/x-www-form-urlencoded' })).status).toBe(
        415,
      );
    });
  });

  it('429 with Retry-After once failed logins of an account from one address pass the free attempts; other addresses are not held back', async () => {
    const { input } = await register();
    const headers = { 'x-forwarded-for': '198.51.100.123' };
    const attempt = () =>
      call('POST', '/api/users/login', { headers, json: { user: { email: input.email, password: 'not the password' } } });
    for (let i = 0; i < LOGIN_BACKOFF.freeFailures; i += 1) expect((await attempt()).status).toBe(401);
    const refused = await unchanged(attempt);
    expectErrors(refused, 429, { request: ['too many attempts, try again later'] }, 'RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await call('POST', '/api/users/login', { json: { user: input } })).status).toBe(200);
  });
});

describe('GET /api/user', () => {
  it('200 with `Token` and with `Bearer`; user.token is the token presented', async () => {
    const { input, access_token } = await register();
    for (const scheme of ['Token', 'Bearer'] as const) {
      const answer = await call('GET', '/api/user', { token: access_token, scheme });
      expect(answer.status).toBe(200);
      expect(userResponse.parse(answer.body)).toEqual({
        user: {
          email: input.email,
          username: input.username,
          bio: null,
          image: null,
          email_verified: false,
          pending_email: null,
          token: access_token,
        },
      });
    }
  });

  it('401 with an errors body, a code and a challenge: no token, a bad token, a wrong scheme', async () => {
    const { access_token } = await register();
    const missing = await call('GET', '/api/user');
    expectErrors(missing, 401, { token: ['is missing'] }, 'ACCESS_TOKEN_MISSING');
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    const invalid = await call('GET', '/api/user', { token: `${access_token.slice(0, -4)}AAAA` });
    expectErrors(invalid, 401, { token: ['is invalid'] }, 'ACCESS_TOKEN_INVALID');
    expect(invalid.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expectErrors(
      await call('GET', '/api/user', { headers: { authorization: `Basic ${access_token}` } }),
      401,
      { token: ['is missing'] },
      'ACCESS_TOKEN_MISSING',
    );
  });

  it('405 with Allow for another method', async () => {
    const answer = await call('DELETE', '/api/user', { token: 'whatever' });
    expect(answer.status).toBe(405);
    expect(answer.headers.get('allow')).toBe('GET, PUT, OPTIONS');
  });
});

describe('PUT /api/user', () => {
  it('updates the profile through user.update: 200 { user }; "" and null clear; a new email is pending until confirmed', async () => {
    const { input, access_token } = await register();
    const next = newUser();
    const answer = await call('PUT', '/api/user', {
      token: access_token,
      json: { user: { bio: '  I like to skateboard  ', image: 'https://example.com/me.png', username: next.username, email: next.email } },
    });
    expect(answer.status).toBe(200);
    expect(userResponse.parse(answer.body).user).toEqual({
      email: input.email,
      username: next.username,
      bio: 'I like to skateboard',
      image: 'https://example.com/me.png',
      email_verified: false,
      pending_email: next.email,
      token: access_token,
    });
    const cleared = await call('PUT', '/api/user', { token: access_token, json: { user: { bio: '', image: null } } });
    expect(userResponse.parse(cleared.body).user).toMatchObject({ bio: null, image: null });
    // The tRPC side sees the same user.
    expect(await app.client(() => access_token).user.me.query()).toMatchObject({ email: input.email, pendingEmail: next.email, bio: null });
    expect(input.email).not.toBe(next.email);
  });

  it('ignores RealWorld extras (an empty password, the token in the body): the profile form of Conduit clients works', async () => {
    const { input, access_token } = await register();
    const answer = await call('PUT', '/api/user', {
      token: access_token,
      json: { user: { email: input.email, username: input.username, bio: 'hi', image: '', password: '', token: access_token } },
    });
    expect(answer.status).toBe(200);
    expect(userResponse.parse(answer.body).user.bio).toBe('hi');
    // The password did not change.
    expect((await call('POST', '/api/users/login', { json: { user: { email: input.email, password: input.password } } })).status).toBe(200);
  });

  it('422 for invalid fields; 409 for a taken username or email; nothing is written', async () => {
    const taken = await register();
    const { access_token } = await register();
    await unchanged(async () => {
      expectErrors(
        await call('PUT', '/api/user', { token: access_token, json: { user: { image: 'javascript:alert(1)', username: 'x', bio: 42 } } }),
        422,
        { image: ['must be an http(s) URL'], username: ['is too short (minimum is 3 characters)'], bio: ['is invalid'] },
        'VALIDATION_FAILED',
      );
      expectErrors(
        await call('PUT', '/api/user', { token: access_token, json: { user: { username: taken.input.username } } }),
        409,
        { username: ['has already been taken'] },
        'USERNAME_TAKEN',
      );
      expectErrors(
        await call('PUT', '/api/user', { token: access_token, json: { user: { email: taken.input.email } } }),
        409,
        { email: ['has already been taken'] },
        'EMAIL_TAKEN',
      );
    });
  });

  it('401 without a valid token, before the body is looked at; nothing is written', async () => {
    await unchanged(async () => {
      expectErrors(
        await call('PUT', '/api/user', { json: { user: { bio: 'x' } } }),
        401,
        { token: ['is missing'] },
        'ACCESS_TOKEN_MISSING',
      );
      expectErrors(
        await call('PUT', '/api/user', { token: 'not-a-jwt', json: { user: { username: 'x' } } }),
        401,
        { token: ['is invalid'] },
        'ACCESS_TOKEN_INVALID',
      );
    });
  });

  it('`password` alone (as RealWorld sends it) needs a recent sign-in: later it is 403 REAUTHENTICATION_REQUIRED and nothing changes', async () => {
    const { input, access_token } = await register();
    app.clock.advance(6 * 60);
    await unchanged(async () => {
      expectErrors(
        await call('PUT', '/api/user', { token: access_token, json: { user: { password: 'a brand new passphrase' } } }),
        403,
        { current_password: ['is required (or re-authenticate first)'] },
        'REAUTHENTICATION_REQUIRED',
      );
      expectErrors(
        await call('PUT', '/api/user', { token: access_token, json: { user: { password: 'a brand new passphrase', username: 'x' } } }),
        422,
        { username: ['is too short (minimum is 3 characters)'] },
        'VALIDATION_FAILED',
      );
      expectErrors(
        await call('PUT', '/api/user', { token: access_token, json: { user: { current_password: input.password } } }),
        422,
        { password: ["can't be blank"] },
        'VALIDATION_FAILED',
      );
      expectErrors(
        await call('PUT', '/api/user', { token: access_token, json: { user: { password: 'password', current_password: input.password } } }),
        422,
        { password: ['is too common'] },
        'VALIDATION_FAILED',
      );
    });
  });

  it('`password` alone right after signing in changes the password (the sign-in is the proof)', async () => {
    const { input, access_token } = await register();
    const answer = await call('PUT', '/api/user', { token: access_token, json: { user: { password: 'a brand new passphrase' } } });
    expect(answer.status).toBe(200);
    const login = (password: string) => call('POST', '/api/users/login', { json: { user: { email: input.email, password } } });
    expect((await login('a brand new passphrase')).status).toBe(200);
  });

  it('a wrong current_password is 422 (not 401: the session is fine) and changes nothing', async () => {
    const { input, access_token } = await register();
    await unchanged(async () => {
      expectErrors(
        await call('PUT', '/api/user', {
          token: access_token,
          json: { user: { password: 'a brand new passphrase', current_password: 'not the password' } },
        }),
        422,
        { current_password: ['is incorrect'] },
        'INVALID_CREDENTIALS',
      );
    });
    expect((await call('GET', '/api/user', { token: access_token })).status).toBe(200);
    expect((await call('POST', '/api/users/login', { json: { user: { email: input.email, password: input.password } } })).status).toBe(200);
  });

  it('changes the password through user.changePassword: other sessions end, this one stays', async () => {
    const { input, access_token } = await register();
    const other = sessionResponse.parse(
      (await call('POST', '/api/users/login', { json: { user: { email: input.email, password: input.password } } })).body,
    );
    const answer = await call('PUT', '/api/user', {
      token: access_token,
      json: { user: { password: 'a brand new passphrase', current_password: input.password } },
    });
    expect(answer.status).toBe(200);
    expect(userResponse.parse(answer.body).user).toMatchObject({ email: input.email, token: access_token });
    expect((await call('GET', '/api/user', { token: access_token })).status).toBe(200);
    expectErrors(await call('GET', '/api/user', { token: other.access_token }), 401, { session: ['has ended'] }, 'SESSION_REVOKED');
    expect((await call('POST', '/api/auth/refresh', { json: { refresh_token: other.refresh_token } })).status).toBe(401);
    const login = (password: string) => call('POST', '/api/users/login', { json: { user: { email: input.email, password } } });
    expect((await login(input.password)).status).toBe(401);
    expect((await login('a brand new passphrase')).status).toBe(200);
  });

  it('with profile fields and a wrong current_password, nothing changes and the form can be sent again as is', async () => {
    const { input, access_token } = await register();
    const form = { bio: 'new bio', password: 'a brand new passphrase' };
    const first = await call('PUT', '/api/user', { token: access_token, json: { user: { ...form, current_password: 'wrong one' } } });
    expectErrors(first, 422, { current_password: ['is incorrect'] }, 'INVALID_CREDENTIALS');
    expect(userResponse.parse((await call('GET', '/api/user', { token: access_token })).body).user.bio).toBeNull();
    const again = await call('PUT', '/api/user', { token: access_token, json: { user: { ...form, current_password: input.password } } });
    expect(again.status).toBe(200);
    expect(userResponse.parse(again.body).user.bio).toBe('new bio');
    expect((await call('POST', '/api/users/login', { json: { user: { email: input.email, password: form.password } } })).status).toBe(200);
  });
});

describe('device tokens over REST', () => {
  it("login answers a device_token and takes it back: with it, a stranger's failures from the same address do not lock the owner out", async () => {
    const { input, device_token: deviceToken } = await register();
    const address = '198.51.100.99';
    const headers = { 'x-forwarded-for': address };
    for (let i = 0; i < LOGIN_BACKOFF.freeFailures + 1; i += 1)
      await call('POST', '/api/users/login', { headers, json: { user: { email: input.email, password: `guess ${i}` } } });
    const without = await call('POST', '/api/users/login', { headers, json: { user: input } });
    expect(without.status).toBe(429);
    const withDevice = await call('POST', '/api/users/login', { headers, json: { user: { ...input, device_token: deviceToken } } });
    expect(withDevice.status).toBe(200);
    expect(sessionResponse.parse(withDevice.body).device_token).toEqual(expect.any(String));
  });
});

describe('POST /api/auth/refresh', () => {
  it('200 { access_token, refresh_token }: the token rotates and the new access token works', async () => {
    const { input, refresh_token } = await register();
    const answer = await call('POST', '/api/auth/refresh', { json: { refresh_token } });
    expect(answer.status).toBe(200);
    const tokens = tokensResponse.parse(answer.body);
    expect(Object.keys(answer.body as object).sort()).toEqual(['access_token', 'refresh_token']);
    expect(tokens.refresh_token).not.toBe(refresh_token);
    const me = await call('GET', '/api/user', { token: tokens.access_token });
    expect(userResponse.parse(me.body).user).toMatchObject({ email: input.email, token: tokens.access_token });
  });

  it('401 for an unknown token; a rotated token presented after the grace window revokes the session', async () => {
    const { refresh_token } = await register();
    await unchanged(async () => {
      expectErrors(
        await call('POST', '/api/auth/refresh', { json: { refresh_token: 'not-a-refresh-token' } }),
        401,
        { refresh_token: ['is invalid'] },
        'REFRESH_TOKEN_INVALID',
      );
    });
    const next = tokensResponse.parse((await call('POST', '/api/auth/refresh', { json: { refresh_token } })).body);
    app.clock.advance(app.config.refreshReuseGraceSeconds + 1);
    expectErrors(
      await call('POST', '/api/auth/refresh', { json: { refresh_token } }),
      401,
      { refresh_token: ['was already used; the session has been revoked'] },
      'REFRESH_TOKEN_REUSED',
    );
    expect((await call('POST', '/api/auth/refresh', { json: { refresh_token: next.refresh_token } })).status).toBe(401);
    expect((await call('GET', '/api/user', { token: next.access_token })).status).toBe(401);
  });

  it('422 without refresh_token (the tRPC name refreshToken is not it); 400 and 415; nothing is written', async () => {
    const { refresh_token } = await register();
    await unchanged(async () => {
      expectErrors(
        await call('POST', '/api/auth/refresh', { json: { refreshToken: refresh_token } }),
        422,
        { refresh_token: ["can't be blank"] },
        'VALIDATION_FAILED',
      );
      expect(
        (await call('POST', '/api/auth/refresh', { raw: `{"refresh_token": "${refresh_token}"`, contentType: 'application/json' })).status,
      ).toBe(400);
      expect((await call('POST', '/api/auth/refresh', { raw: refresh_token, contentType: 'text/plain' })).status).toBe(415);
    });
  });
});

describe('POST /api/auth/logout', () => {
  it('200 { message }: the session ends, its access token too; logging out again is fine', async () => {
    const { refresh_token, access_token } = await register();
    const answer = await call('POST', '/api/auth/logout', { json: { refresh_token } });
    expect(answer.status).toBe(200);
    expect(messageResponse.parse(answer.body)).toEqual({ message: 'Logged out' });
    expect((await call('GET', '/api/user', { token: access_token })).status).toBe(401);
    expect((await call('POST', '/api/auth/refresh', { json: { refresh_token } })).status).toBe(401);
    expect((await call('POST', '/api/auth/logout', { json: { refresh_token } })).status).toBe(200);
    expect((await call('POST', '/api/auth/logout', { json: { refresh_token: 'garbage' } })).status).toBe(200);
  });

  it('422 without refresh_token, 400 malformed, 415 not JSON; nothing is written', async () => {
    await register();
    await unchanged(async () => {
      expectErrors(await call('POST', '/api/auth/logout', { json: {} }), 422, { refresh_token: ["can't be blank"] }, 'VALIDATION_FAILED');
      expect((await call('POST', '/api/auth/logout', { raw: '{"refresh_token":', contentType: 'application/json' })).status).toBe(400);
      expect((await call('POST', '/api/auth/logout', { raw: 'x', contentType: 'text/plain' })).status).toBe(415);
    });
  });
});

describe('the dispatcher', () => {
  it('404 for unknown routes under /api, in the errors shape', async () => {
    for (const path of ['/api', '/api/', '/api/nope', '/api/users/', '/api/user/1']) {
      const answer = await call('GET', path);
      expectErrors(answer, 404, { route: ['not found'] });
    }
    expect((await call('POST', '/api/nope', { json: {} })).status).toBe(404);
  });

  it('answers OPTIONS with the allowed methods', async () => {
    const answer = await call('OPTIONS', '/api/user');
    expect(answer.status).toBe(204);
    expect(answer.headers.get('allow')).toBe('GET, PUT, OPTIONS');
  });

  it('500 with no detail when the database is unreachable', async () => {
    const unreachable = await createDatabase({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/nothing' });
    const broken = await servedApp(unreachable, { env: { NODE_ENV: 'production' } });
    try {
      const answer = await restClient(broken.url)('POST', '/api/users/login', {
        json: { user: { email: 'a@example.com', password: 'whatever1' } },
      });
      expect(answer.status).toBe(500);
      expect(answer.body).toEqual({ errors: { server: ['internal error'] } });
    } finally {
      await broken.close();
      await unreachable.close();
    }
  });

  it("maps the mail routes' token errors ahead of them: TOKEN_INVALID is 404, TOKEN_EXPIRED is 410", async () => {
    expect(fromAppError(new AppError('TOKEN_INVALID')).status).toBe(404);
    const expired = new AppError('TOKEN_EXPIRED');
    expect(fromAppError(expired).status).toBe(410);
    expect(fromAppError(expired).body()).toEqual({ errors: { token: ['has expired'] }, code: 'TOKEN_EXPIRED' });
  });

  it('a route added to the table is served: query input, auth, error mapping and the output schema', async () => {
    const echo = defineRoute({
      method: 'GET',
      path: '/api/test/echo',
      operationId: 'echo',
      summary: 'Echo',
      tag: 'test',
      auth: false,
      input: {
        from: 'query',
        name: 'EchoQuery',
        schema: z.object({ token: z.string({ error: "can't be blank" }).min(1, "can't be blank") }),
      },
      success: { status: 200, description: 'echo', name: 'EchoResponse', schema: z.object({ token: z.string() }) },
      errors: [404],
      async handle({ input }) {
        if (input.token === 'unknown') throw new AppError('TOKEN_INVALID');
        if (input.token === 'leak') return { token: 'ok', secret: 'must not leave' };
        // A handler bug the type checker would catch, forced through to see the output check answer 500.
        if (input.token === 'bug') return { token: 42 } as unknown as { token: string };
        return { token: input.token };
      },
    });
    const handler = createRestHandler({
      routes: [...restRoutes, echo],
      runtime: app,
      logger: app.logger,
      maxBodyBytes: MAX_BODY_BYTES,
    });
    const server: Server = createServer((req, res) => void handler(req, res, 'test', new URL(`http://localhost${req.url ?? '/'}`)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const local = restClient(`http://127.0.0.1:${port}`);
    try {
      expect(await local('GET', '/api/test/echo?token=abc')).toMatchObject({ status: 200, body: { token: 'abc' } });
      expect((await local('GET', '/api/test/echo?token=leak')).body).toEqual({ token: 'ok' });
      expectErrors(await local('GET', '/api/test/echo'), 422, { token: ["can't be blank"] }, 'VALIDATION_FAILED');
      expectErrors(await local('GET', '/api/test/echo?token=unknown'), 404, { token: ['is invalid'] }, 'TOKEN_INVALID');
      expectErrors(await local('GET', '/api/test/echo?token=bug'), 500, { server: ['internal error'] });
      // The client learns nothing; the cause is in the server's log, with the request id.
      expect(logLines.some((line) => line.includes('REST request failed') && line.includes('"requestId":"test"'))).toBe(true);
      // The real routes are served alongside.
      expect((await local('GET', '/api/user')).status).toBe(401);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('logs each request by path only, never a password or a token', async () => {
    const { input, access_token, refresh_token } = await register();
    await call('GET', '/api/user', { token: access_token });
    await call('POST', '/api/auth/refresh', { json: { refresh_token } });
    await call('POST', '/api/users/login', { json: { user: { email: input.email, password: input.password } } });
    // A request's line is written when its response closes, a moment after the client has it.
    await until(() => logLines.some((line) => line.includes('/api/users/login')));
    const text = logLines.join('\n');
    for (const secret of [input.password, access_token, refresh_token]) expect(text).not.toContain(secret);
    const requests = logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'request');
    expect(requests).toContainEqual(expect.objectContaining({ method: 'GET', path: '/api/user', status: 200 }));
  });
});
