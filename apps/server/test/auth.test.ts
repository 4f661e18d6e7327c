import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, signedIn, type TestApp, testApp } from './helpers/app.js';
import { expectUnchanged, migratedTestDatabase, type TestDatabase } from './helpers/database.js';
import { failure } from './helpers/failure.js';

let database: TestDatabase;
let app: TestApp;

beforeAll(async () => {
  database = await migratedTestDatabase();
  app = await testApp(database);
});
afterAll(async () => {
  await app?.close();
  await database?.close();
});

describe('register, login, me', () => {
  it('registers, logs in and reads the signed-in user', async () => {
    const input = newUser();
    const session = await app.caller().auth.register(input);
    expect(session.user).toEqual({
      id: expect.any(String),
      email: input.email,
      username: input.username,
      bio: null,
      image: null,
      emailVerified: false,
      pendingEmail: null,
      createdAt: app.clock.now(),
    });
    expect(session.accessTokenExpiresAt).toEqual(new Date(app.clock.now().getTime() + 15 * 60_000));
    expect(session.refreshTokenExpiresAt).toEqual(new Date(app.clock.now().getTime() + 7 * 86_400_000));
    expect(Object.keys(session.user)).not.toContain('password_hash');

    const login = await signedIn(app.caller().auth.login({ email: input.email.toUpperCase(), password: input.password }));
    expect(login.user.id).toBe(session.user.id);
    expect(login.refreshToken).not.toBe(session.refreshToken);

    const me = await app.caller({ accessToken: login.accessToken }).user.me();
    expect(me).toEqual(session.user);
  });

  it('trims the email and keeps it unique case-insensitively, writing nothing on a conflict', async () => {
    const input = newUser();
    await app.caller().auth.register({ ...input, email: `  ${input.email}  ` });
    await expectUnchanged(database.db, async () => {
      expect(await failure(app.caller().auth.register({ ...newUser(), email: input.email.toUpperCase() }))).toEqual({
        code: 'CONFLICT',
        appCode: 'EMAIL_TAKEN',
      });
      expect(await failure(app.caller().auth.register({ ...newUser(), username: input.username.toUpperCase() }))).toEqual({
        code: 'CONFLICT',
        appCode: 'USERNAME_TAKEN',
      });
    });
  });

  it('refuses invalid input field by field, common and over-long passwords included', async () => {
    const caller = app.caller();
    const error = await caller.auth.register({ username: 'ab', email: 'not-an-email', password: 'short' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TRPCError);
    expect((error as TRPCError).code).toBe('BAD_REQUEST');
    const issues = (error as TRPCError & { cause: { issues: { path: string[] }[] } }).cause.issues;
    expect(issues.map((i) => i.path[0]).sort()).toEqual(['email', 'password', 'username']);
    for (const password of ['password1', 'Password1', 'x'.repeat(257)]) {
      expect(await failure(caller.auth.register({ ...newUser(), password }))).toMatchObject({ code: 'BAD_REQUEST' });
    }
    // 256 characters is within the limit, even when they are multi-byte.
    await expect(caller.auth.register({ ...newUser(), password: 'é'.repeat(256) })).resolves.toHaveProperty('accessToken');
  });

  it('answers an unknown email exactly as a wrong password', async () => {
    const input = newUser();
    await app.caller().auth.register(input);
    const wrongPassword = await failure(app.caller().auth.login({ email: input.email, password: 'not the password at all' }));
    const unknownEmail = await failure(app.caller().auth.login({ email: `nobody-${input.email}`, password: input.password }));
    expect(wrongPassword).toEqual({ code: 'UNAUTHORIZED', appCode: 'INVALID_CREDENTIALS' });
    expect(unknownEmail).toEqual(wrongPassword);
  });

  it('counts every byte of a long password (no 72-byte truncation)', async () => {
    const input = newUser();
    const base = 'a'.repeat(72);
    await app.caller().auth.register({ ...input, password: `${base}b` });
    expect(await failure(app.caller().auth.login({ email: input.email, password: `${base}c` }))).toEqual({
      code: 'UNAUTHORIZED',
      appCode: 'INVALID_CREDENTIALS',
    });
    await expect(app.caller().auth.login({ email: input.email, password: `${base}b` })).resolves.toMatchObject({
      user: { email: input.email },
    });
  });

  it('logs in with the NFD form of a password registered in NFC', async () => {
    const input = newUser();
    const nfc = 'Crème brûlée au café'.normalize('NFC');
    const nfd = nfc.normalize('NFD');
    expect(nfd).not.toBe(nfc);
    await app.caller().auth.register({ ...input, password: nfc });
    await expect(app.caller().auth.login({ email: input.email, password: nfd })).resolves.toMatchObject({ user: { email: input.email } });
  });
});

describe('access tokens', () => {
  it('refuses a missing or malformed access token', async () => {
    expect(await failure(app.caller().user.me())).toEqual({ code: 'UNAUTHORIZED', appCode: 'ACCESS_TOKEN_MISSING' });
    expect(await failure(app.caller({ accessToken: 'not.a.jwt' }).user.me())).toEqual({
      code: 'UNAUTHORIZED',
      appCode: 'ACCESS_TOKEN_INVALID',
    });
    expect(await failure(app.caller({ authorization: 'Basic dXNlcjpwYXNz' }).user.me())).toEqual({
      code: 'UNAUTHORIZED',
      appCode: 'ACCESS_TOKEN_MISSING',
    });
  });

  it('accepts the Token scheme as well as Bearer', async () => {
    const session = await app.caller().auth.register(newUser());
    await expect(app.caller({ authorization: `Token ${session.accessToken}` }).user.me()).resolves.toMatchObject({ id: session.user.id });
  });

  it('expires access tokens after ACCESS_TOKEN_TTL', async () => {
    const session = await app.caller().auth.register(newUser());
    app.clock.advance(14 * 60);
    await expect(app.caller({ accessToken: session.accessToken }).user.me()).resolves.toMatchObject({ id: session.user.id });
    app.clock.advance(2 * 60);
    expect(await failure(app.caller({ accessToken: session.accessToken }).user.me())).toEqual({
      code: 'UNAUTHORIZED',
      appCode: 'ACCESS_TOKEN_EXPIRED',
    });
  });
});

describe('refresh tokens', () => {
  it('rotates the refresh token on every refresh and the new access token works', async () => {
    const session = await app.caller().auth.register(newUser());
    app.clock.advance(60);
    const first = await app.caller().auth.refresh({ refreshToken: session.refreshToken });
    expect(first.refreshToken).not.toBe(session.refreshToken);
    expect(first).not.toHaveProperty('user');
    expect(first.refreshTokenExpiresAt).toEqual(new Date(app.clock.now().getTime() + 7 * 86_400_000));
    app.clock.advance(60);
    const second = await app.caller().auth.refresh({ refreshToken: first.refreshToken });
    expect(second.refreshToken).not.toBe(first.refreshToken);
    await expect(app.caller({ accessToken: second.accessToken }).user.me()).resolves.toMatchObject({ id: session.user.id });
  });

  it('returns the same successor when the just-rotated token is presented again within the grace window', async () => {
    const session = await app.caller().auth.register(newUser());
    const first = await app.caller().auth.refresh({ refreshToken: session.refreshToken });
    app.clock.advance(9);
    const again = await app.caller().auth.refresh({ refreshToken: session.refreshToken });
    expect(again.refreshToken).toBe(first.refreshToken);
    // The successor is still live: the chain goes on from it.
    const next = await app.caller().auth.refresh({ refreshToken: first.refreshToken });
    await expect(app.caller({ accessToken: next.accessToken }).user.me()).resolves.toMatchObject({ id: session.user.id });
  });

  it('refresh token reused after the grace window revokes the session and its access tokens', async () => {
    const session = await app.caller().auth.register(newUser());
    const rotated = await app.caller().auth.refresh({ refreshToken: session.refreshToken });
    app.clock.advance(11);
    expect(await failure(app.caller().auth.refresh({ refreshToken: session.refreshToken }))).toEqual({
      code: 'UNAUTHORIZED',
      appCode: 'REFRESH_TOKEN_REUSED',
    });
    // Every token of the session is dead now: the legitimate successor and both access tokens.
    expect(await failure(app.caller().auth.refresh({ refreshToken: rotated.refreshToken }))).toMatchObject({ code: 'UNAUTHORIZED' });
    for (const accessToken of [session.accessToken, rotated.accessToken]) {
      expect(await failure(app.caller({ accessToken }).user.me())).toEqual({ code: 'UNAUTHORIZED', appCode: 'SESSION_REVOKED' });
    }
  });

  it('an older token than the previous one revokes the session even inside the grace window', async () => {
    const session = await app.caller().auth.register(newUser());
    const first = await app.caller().auth.refresh({ refreshToken: session.refreshToken });
    const second = await app.caller().auth.refresh({ refreshToken: first.refreshToken });
    expect(await failure(app.caller().auth.refresh({ refreshToken: session.refreshToken }))).toEqual({
      code: 'UNAUTHORIZED',
      appCode: 'REFRESH_TOKEN_REUSED',
    });
    expect(await failure(app.caller({ accessToken: second.accessToken }).user.me())).toMatchObject({ appCode: 'SESSION_REVOKED' });
  });

  it('20 concurrent refreshes of one token all get the same successor: one live chain', async () => {
    const session = await app.caller().auth.register(newUser());
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => app.caller().auth.refresh({ refreshToken: session.refreshToken })),
    );
    const tokens = new Set(results.map((r) => (r.status === 'fulfilled' ? r.value.refreshToken : 'failed')));
    expect(tokens.size).toBe(1);
    expect(tokens.has('failed')).toBe(false);
    const row = await database.db
      .selectFrom('sessions')
      .select(['generation', 'revoked_at'])
      .where('user_id', '=', session.user.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ generation: 1, revoked_at: null });
  });

  it('refuses forged, tampered and unknown refresh tokens without revoking anything', async () => {
    const session = await app.caller().auth.register(newUser());
    const tampered = `${session.refreshToken.slice(0, -2)}${session.refreshToken.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const refreshToken of [tampered, 'garbage', 'A'.repeat(70), session.accessToken]) {
      expect(await failure(app.caller().auth.refresh({ refreshToken }))).toEqual({
        code: 'UNAUTHORIZED',
        appCode: 'REFRESH_TOKEN_INVALID',
      });
    }
    await expect(app.caller().auth.refresh({ refreshToken: session.refreshToken })).resolves.toHaveProperty('refreshToken');
  });

  it('expires a session left unused for REFRESH_IDLE_TTL', async () => {
    const session = await app.caller().auth.register(newUser());
    app.clock.advance(7 * 86_400 + 1);
    expect(await failure(app.caller().auth.refresh({ refreshToken: session.refreshToken }))).toEqual({
      code: 'UNAUTHORIZED',
      appCode: 'REFRESH_TOKEN_EXPIRED',
    });
  });

  it('ends a session at REFRESH_ABSOLUTE_TTL however often it is refreshed', async () => {
    const session = await app.caller().auth.register(newUser());
    const absoluteEnd = app.clock.now().getTime() + 30 * 86_400_000;
    let refreshToken = session.refreshToken;
    let expiresAt = session.refreshTokenExpiresAt;
    for (let day = 0; day < 29; day += 1) {
      app.clock.advance(86_400);
      const next = await app.caller().auth.refresh({ refreshToken });
      refreshToken = next.refreshToken;
      expiresAt = next.refreshTokenExpiresAt;
    }
    expect(expiresAt.getTime()).toBe(absoluteEnd);
    app.clock.advance(86_400);
    expect(await failure(app.caller().auth.refresh({ refreshToken }))).toEqual({ code: 'UNAUTHORIZED', appCode: 'REFRESH_TOKEN_EXPIRED' });
  });
});

describe('logout', () => {
  it('ends the session: its refresh and access tokens stop working; a second logout is fine', async () => {
    const session = await app.caller().auth.register(newUser());
    await expect(app.caller().auth.logout({ refreshToken: session.refreshToken })).resolves.toEqual({ success: true });
    await expect(app.caller().auth.logout({ refreshToken: session.refreshToken })).resolves.toEqual({ success: true });
    await expect(app.caller().auth.logout({ refreshToken: 'unknown' })).resolves.toEqual({ success: true });
    expect(await failure(app.caller().auth.refresh({ refreshToken: session.refreshToken }))).toEqual({
      code: 'UNAUTHORIZED',
      appCode: 'REFRESH_TOKEN_INVALID',
    });
    expect(await failure(app.caller({ accessToken: session.accessToken }).user.me())).toEqual({
      code: 'UNAUTHORIZED',
      appCode: 'SESSION_REVOKED',
    });
  });

  it("leaves the user's other sessions alone", async () => {
    const input = newUser();
    const first = await app.caller().auth.register(input);
    const second = await signedIn(app.caller().auth.login(input));
    await app.caller().auth.logout({ refreshToken: first.refreshToken });
    await expect(app.caller({ accessToken: second.accessToken }).user.me()).resolves.toMatchObject({ id: first.user.id });
  });
});

describe('logout everywhere', () => {
  it("revokes every session of the user, the calling one included, and no one else's", async () => {
    const input = newUser();
    const first = await app.caller().auth.register(input);
    const second = await signedIn(app.caller().auth.login(input));
    const third = await signedIn(app.caller().auth.login(input));
    await app.caller().auth.logout({ refreshToken: third.refreshToken });
    const stranger = await app.caller().auth.register(newUser());

    await expect(app.caller({ accessToken: first.accessToken }).auth.logoutAll()).resolves.toEqual({ revoked: 2 });
    for (const session of [first, second]) {
      expect(await failure(app.caller({ accessToken: session.accessToken }).user.me())).toMatchObject({ appCode: 'SESSION_REVOKED' });
      expect(await failure(app.caller().auth.refresh({ refreshToken: session.refreshToken }))).toMatchObject({ code: 'UNAUTHORIZED' });
    }
    await expect(app.caller({ accessToken: stranger.accessToken }).user.me()).resolves.toMatchObject({ id: stranger.user.id });
  });
});

describe('at rest', () => {
  it('stores no password, and nothing in the sessions table is a working refresh token', async () => {
    const input = newUser();
    const session = await app.caller().auth.register(input);
    const user = await database.db.selectFrom('users').selectAll().where('id', '=', session.user.id).executeTakeFirstOrThrow();
    expect(user.password_hash).toMatch(/^\$2[aby]\$04\$/);
    expect(JSON.stringify(user)).not.toContain(input.password);
    const rows = await database.db.selectFrom('sessions').selectAll().where('user_id', '=', session.user.id).execute();
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(session.refreshToken);
    for (const value of Object.values(rows[0] ?? {})) {
      if (typeof value !== 'string') continue;
      expect(await failure(app.caller().auth.refresh({ refreshToken: value }))).toMatchObject({ appCode: 'REFRESH_TOKEN_INVALID' });
    }
  });
});
