import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, signedIn, type TestApp, testApp } from './helpers/app.js';
import { migratedTestDatabase, type TestDatabase } from './helpers/database.js';
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

describe('auth.sessions and auth.revokeSession', () => {
  it('lists the live sessions with their client, times and which one is current', async () => {
    const input = newUser();
    const first = await app.caller({ ip: '198.51.100.7', userAgent: 'Firefox' }).auth.register(input);
    app.clock.advance(60);
    const second = await signedIn(app.caller({ ip: '198.51.100.8', userAgent: 'Safari' }).auth.login(input));
    const ended = await signedIn(app.caller().auth.login(input));
    await app.caller().auth.logout({ refreshToken: ended.refreshToken });

    const sessions = await app.caller({ accessToken: second.accessToken }).auth.sessions();
    expect(sessions).toHaveLength(2);
    expect(sessions[0]).toMatchObject({
      ip: '198.51.100.8',
      userAgent: 'Safari',
      current: true,
      createdAt: app.clock.now(),
      lastUsedAt: app.clock.now(),
    });
    expect(sessions[1]).toMatchObject({ ip: '198.51.100.7', userAgent: 'Firefox', current: false });
    expect(sessions[1]?.expiresAt).toEqual(first.refreshTokenExpiresAt);
  });

  it("revokes one of the user's sessions: its tokens stop working, the others go on", async () => {
    const input = newUser();
    const phone = await app.caller().auth.register(input);
    const laptop = await signedIn(app.caller().auth.login(input));
    const [phoneSession] = (await app.caller({ accessToken: laptop.accessToken }).auth.sessions()).filter((s) => !s.current);
    await expect(
      app.caller({ accessToken: laptop.accessToken }).auth.revokeSession({ sessionId: phoneSession?.id ?? '' }),
    ).resolves.toEqual({
      success: true,
    });
    expect(await failure(app.caller({ accessToken: phone.accessToken }).user.me())).toMatchObject({ appCode: 'SESSION_REVOKED' });
    expect(await failure(app.caller().auth.refresh({ refreshToken: phone.refreshToken }))).toMatchObject({
      appCode: 'REFRESH_TOKEN_INVALID',
    });
    await expect(app.caller({ accessToken: laptop.accessToken }).user.me()).resolves.toHaveProperty('email', input.email);
  });

  it("cannot touch another user's session", async () => {
    const victim = await app.caller().auth.register(newUser());
    const attacker = await app.caller().auth.register(newUser());
    const [victimSession] = await app.caller({ accessToken: victim.accessToken }).auth.sessions();
    expect(
      await failure(app.caller({ accessToken: attacker.accessToken }).auth.revokeSession({ sessionId: victimSession?.id ?? '' })),
    ).toEqual({
      code: 'NOT_FOUND',
      appCode: 'SESSION_NOT_FOUND',
    });
    await expect(app.caller({ accessToken: victim.accessToken }).user.me()).resolves.toHaveProperty('id', victim.user.id);
  });
});

describe('user.update', () => {
  it('changes the profile; an empty bio or image clears it', async () => {
    const session = await app.caller().auth.register(newUser());
    const caller = app.caller({ accessToken: session.accessToken });
    const updated = await caller.user.update({ bio: 'Hello', image: 'https://example.com/me.png', username: `${session.user.username}x` });
    expect(updated).toMatchObject({ bio: 'Hello', image: 'https://example.com/me.png', username: `${session.user.username}x` });
    expect(await caller.user.update({ bio: '', image: null })).toMatchObject({ bio: null, image: null });
    expect(await failure(caller.user.update({ image: 'javascript:alert(1)' }))).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('a new email is unverified again; a taken one is a conflict and changes nothing', async () => {
    const other = newUser();
    await app.caller().auth.register(other);
    const session = await app.caller().auth.register(newUser());
    await database.db.updateTable('users').set({ email_verified_at: app.clock.now() }).where('id', '=', session.user.id).execute();
    const caller = app.caller({ accessToken: session.accessToken });
    expect((await caller.user.me()).emailVerified).toBe(true);
    // The same address in other letters is no change.
    expect((await caller.user.update({ email: session.user.email.toUpperCase() })).emailVerified).toBe(true);
    expect(await failure(caller.user.update({ email: other.email.toUpperCase(), bio: 'not saved' }))).toEqual({
      code: 'CONFLICT',
      appCode: 'EMAIL_TAKEN',
    });
    expect(await failure(caller.user.update({ username: other.username }))).toEqual({ code: 'CONFLICT', appCode: 'USERNAME_TAKEN' });
    expect((await caller.user.me()).bio).toBeNull();
    // Right after sign-in the proof is recent: the change is accepted, and pending until confirmed.
    const moved = await caller.user.update({ email: `new-${session.user.email}` });
    expect(moved).toMatchObject({ email: session.user.email, pendingEmail: `new-${session.user.email}`, emailVerified: true });
  });
});

describe('user.changePassword', () => {
  it('a wrong current password is refused and changes nothing', async () => {
    const input = newUser();
    const session = await app.caller().auth.register(input);
    const other = await signedIn(app.caller().auth.login(input));
    expect(
      await failure(
        app
          .caller({ accessToken: session.accessToken })
          .user.changePassword({ currentPassword: 'not my password', newPassword: 'a brand new passphrase' }),
      ),
    ).toMatchObject({ code: 'UNAUTHORIZED', appCode: 'INVALID_CREDENTIALS' });
    await expect(app.caller().auth.login(input)).resolves.toHaveProperty('accessToken');
    await expect(app.caller({ accessToken: other.accessToken }).user.me()).resolves.toHaveProperty('id');
  });

  it('sets the new password and revokes every other session, keeping the current one', async () => {
    const input = newUser();
    const current = await app.caller().auth.register(input);
    const other = await signedIn(app.caller().auth.login(input));
    const newPassword = 'an entirely different passphrase';
    await expect(
      app.caller({ accessToken: current.accessToken }).user.changePassword({ currentPassword: input.password, newPassword }),
    ).resolves.toEqual({ success: true });
    await expect(app.caller({ accessToken: current.accessToken }).user.me()).resolves.toHaveProperty('id');
    await expect(app.caller().auth.refresh({ refreshToken: current.refreshToken })).resolves.toHaveProperty('accessToken');
    expect(await failure(app.caller({ accessToken: other.accessToken }).user.me())).toMatchObject({ appCode: 'SESSION_REVOKED' });
    expect(await failure(app.caller().auth.login(input))).toMatchObject({ appCode: 'INVALID_CREDENTIALS' });
    await expect(app.caller().auth.login({ email: input.email, password: newPassword })).resolves.toHaveProperty('accessToken');
  });

  it('refuses a common new password', async () => {
    const input = newUser();
    const session = await app.caller().auth.register(input);
    expect(
      await failure(
        app
          .caller({ accessToken: session.accessToken })
          .user.changePassword({ currentPassword: input.password, newPassword: 'password123' }),
      ),
    ).toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('revocation without a database round trip', () => {
  it('a revoked session is refused from the in-memory list, and live sessions are not looked up', async () => {
    expect(app.revocations.trusted).toBe(true);
    const kept = await app.caller().auth.register(newUser());
    // The row vanishes behind the server's back: a token whose session is not known to be revoked
    // is still accepted, which shows that no query checks it on each request.
    await database.db.deleteFrom('sessions').where('user_id', '=', kept.user.id).execute();
    await expect(app.caller({ accessToken: kept.accessToken }).auth.sessions()).resolves.toEqual([]);

    const ended = await app.caller().auth.register(newUser());
    const [row] = await app.caller({ accessToken: ended.accessToken }).auth.sessions();
    await app.caller().auth.logout({ refreshToken: ended.refreshToken });
    expect(app.revocations.isRevoked(row?.id ?? '')).toBe(true);
    expect(await failure(app.caller({ accessToken: ended.accessToken }).auth.sessions())).toMatchObject({ appCode: 'SESSION_REVOKED' });
  });

  it('an access token never outlives its session', async () => {
    const session = await app.caller().auth.register(newUser());
    // Jump to five minutes before the absolute end, refreshing on the way as a client would.
    let refreshToken = session.refreshToken;
    for (let day = 0; day < 30; day += 1) {
      app.clock.advance(day === 29 ? 86_400 - 300 : 86_400);
      const next = await app.caller().auth.refresh({ refreshToken });
      refreshToken = next.refreshToken;
      if (day === 29) {
        expect(next.accessTokenExpiresAt).toEqual(next.refreshTokenExpiresAt);
        app.clock.advance(300 + 6); // past the end, and past the verifier's 5 s clock tolerance
        expect(await failure(app.caller({ accessToken: next.accessToken }).user.me())).toMatchObject({ appCode: 'ACCESS_TOKEN_EXPIRED' });
      }
    }
  });
});
