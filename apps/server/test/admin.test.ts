import { randomUUID } from 'node:crypto';
/**
 * Roles, disabling and the admin API (issue 16, items 4 and 5), through the router: who may
 * administer, what a disabled account can no longer do, and that every admin change is recorded
 * with the admin as its actor.
 */
import { describe, expect, it } from 'vitest';
import { appForFile, newUser, signedIn } from './helpers/app.js';
import { eventsOf, expectNoSecretsInLog, onlyEvent } from './helpers/events.js';
import { failure } from './helpers/failure.js';

const file = appForFile();
const secrets = new Set<string>();

const CLIENT = { ip: '198.51.100.20', userAgent: 'admin-console/2', requestId: 'req-admin' };

async function signedUp(prefix = 'member') {
  const input = newUser(prefix);
  const session = await file.app.caller().auth.register(input);
  for (const secret of [input.password, session.accessToken, session.refreshToken, session.deviceToken]) secrets.add(secret);
  return {
    input,
    session,
    userId: session.user.id,
    as: (accessToken = session.accessToken) => file.app.caller({ ...CLIENT, accessToken }),
  };
}

/** An admin, made as the operator makes the first one (admin:grant's service), signed in just now. */
async function anAdmin() {
  const admin = await signedUp('admin');
  await file.app.services.admin.grantByEmail(admin.input.email);
  return admin;
}

const MISSING = '00000000-0000-4000-8000-000000000000';

describe('only admins', () => {
  it('every admin procedure is FORBIDDEN / ADMIN_ONLY for a user, alike for an existing, a missing and a malformed target', async () => {
    const { as } = await signedUp();
    const { userId: existing } = await signedUp();
    for (const userId of [existing, MISSING, 'not-a-uuid']) {
      const calls = [
        () => as().admin.users.list({ query: 'a' }),
        () => as().admin.users.get({ userId }),
        () => as().admin.users.disable({ userId, reason: 'testing' }),
        () => as().admin.users.enable({ userId }),
        () => as().admin.users.revokeSessions({ userId }),
        () => as().admin.users.setRole({ userId, role: 'admin' }),
        () => as().admin.events.list({ userId }),
      ];
      for (const call of calls) expect(await failure(call())).toEqual({ code: 'FORBIDDEN', appCode: 'ADMIN_ONLY' });
    }
    expect(await failure(file.app.caller().admin.users.list())).toMatchObject({ appCode: 'ACCESS_TOKEN_MISSING' });
  });

  it('an admin asking for a user that does not exist gets USER_NOT_FOUND', async () => {
    const { as } = await anAdmin();
    expect(await failure(as().admin.users.get({ userId: MISSING }))).toMatchObject({ code: 'NOT_FOUND', appCode: 'USER_NOT_FOUND' });
    expect(await failure(as().admin.users.disable({ userId: MISSING, reason: 'x' }))).toMatchObject({ appCode: 'USER_NOT_FOUND' });
  });

  it('the changing procedures need a re-authentication within REAUTH_MAX_AGE; the reading ones do not', async () => {
    const admin = await anAdmin();
    const target = await signedUp();
    file.app.clock.advance(6 * 60);
    expect(await failure(admin.as().admin.users.disable({ userId: target.userId, reason: 'stale' }))).toEqual({
      code: 'FORBIDDEN',
      appCode: 'REAUTHENTICATION_REQUIRED',
    });
    for (const call of [
      () => admin.as().admin.users.enable({ userId: target.userId }),
      () => admin.as().admin.users.revokeSessions({ userId: target.userId }),
      () => admin.as().admin.users.setRole({ userId: target.userId, role: 'admin' }),
    ])
      expect(await failure(call())).toMatchObject({ appCode: 'REAUTHENTICATION_REQUIRED' });
    await expect(admin.as().admin.users.get({ userId: target.userId })).resolves.toMatchObject({ user: { id: target.userId } });
    expect(await eventsOf(file.database.db, target.userId)).toHaveLength(1);
    const fresh = await admin.as().auth.reauthenticate({ password: admin.input.password });
    secrets.add(fresh.accessToken);
    await expect(admin.as(fresh.accessToken).admin.users.disable({ userId: target.userId, reason: 'fresh' })).resolves.toMatchObject({
      disabledAt: file.app.clock.now(),
    });
  });
});

describe('a disabled account', () => {
  it('cannot log in: ACCOUNT_DISABLED with the right password only, INVALID_CREDENTIALS with a wrong one', async () => {
    const admin = await anAdmin();
    const target = await signedUp();
    await admin.as().admin.users.disable({ userId: target.userId, reason: 'fraud report #12' });
    expect(await failure(file.app.caller().auth.login({ email: target.input.email, password: target.input.password }))).toEqual({
      code: 'FORBIDDEN',
      appCode: 'ACCOUNT_DISABLED',
    });
    expect(await failure(file.app.caller().auth.login({ email: target.input.email, password: 'not the right passphrase' }))).toEqual({
      code: 'UNAUTHORIZED',
      appCode: 'INVALID_CREDENTIALS',
    });
    const reasons = (await eventsOf(file.database.db, target.userId)).filter((e) => e.type === 'login.failed').map((e) => e.details.reason);
    expect(reasons).toEqual(['disabled', 'bad_password']);
  });

  it('loses every session: its refresh token is refused (ACCOUNT_DISABLED) and its access token at once (SESSION_REVOKED)', async () => {
    const admin = await anAdmin();
    const target = await signedUp();
    const second = await signedIn(file.app.caller().auth.login({ email: target.input.email, password: target.input.password }));
    secrets.add(second.refreshToken);
    await expect(target.as().user.me()).resolves.toMatchObject({ id: target.userId });
    const result = await admin.as().admin.users.disable({ userId: target.userId, reason: 'compromised' });
    expect(result).toMatchObject({ id: target.userId, disabledAt: file.app.clock.now() });
    expect(await failure(target.as().user.me())).toMatchObject({ appCode: 'SESSION_REVOKED' });
    expect(await failure(target.as().auth.sessions())).toMatchObject({ appCode: 'SESSION_REVOKED' });
    for (const refreshToken of [target.session.refreshToken, second.refreshToken])
      expect(await failure(file.app.caller().auth.refresh({ refreshToken }))).toEqual({ code: 'FORBIDDEN', appCode: 'ACCOUNT_DISABLED' });
    expect(await onlyEvent(file.database.db, target.userId, 'user.disabled')).toMatchObject({
      actor_kind: 'admin',
      actor_id: admin.userId,
      session_id: (await file.database.db.selectFrom('sessions').select('id').where('user_id', '=', admin.userId).executeTakeFirstOrThrow())
        .id,
      ip: CLIENT.ip,
      user_agent: CLIENT.userAgent,
      request_id: CLIENT.requestId,
      details: { reason: 'compromised', sessionsRevoked: 2 },
    });
    const mails = (await file.app.mails()).filter((m) => m.to === target.input.email && m.kind === 'account_disabled');
    expect(mails).toHaveLength(1);
    expect(mails[0]?.links).toEqual([]);
  });

  it('disabling twice changes nothing the second time and records one event', async () => {
    const admin = await anAdmin();
    const target = await signedUp();
    await admin.as().admin.users.disable({ userId: target.userId, reason: 'one' });
    await admin.as().admin.users.disable({ userId: target.userId, reason: 'two' });
    expect(await onlyEvent(file.database.db, target.userId, 'user.disabled')).toMatchObject({ details: { reason: 'one' } });
  });

  it('enabled again, logs in again, but its old sessions stay ended', async () => {
    const admin = await anAdmin();
    const target = await signedUp();
    await admin.as().admin.users.disable({ userId: target.userId, reason: 'mistake' });
    await expect(admin.as().admin.users.enable({ userId: target.userId })).resolves.toMatchObject({ disabledAt: null });
    expect(await onlyEvent(file.database.db, target.userId, 'user.enabled')).toMatchObject({ actor_kind: 'admin', actor_id: admin.userId });
    const session = await signedIn(file.app.caller().auth.login({ email: target.input.email, password: target.input.password }));
    secrets.add(session.accessToken);
    await expect(file.app.caller({ accessToken: session.accessToken }).user.me()).resolves.toMatchObject({ id: target.userId });
    // Ended for good: no longer "disabled", just a token of an ended session.
    expect(await failure(file.app.caller().auth.refresh({ refreshToken: target.session.refreshToken }))).toMatchObject({
      appCode: 'REFRESH_TOKEN_INVALID',
    });
    expect(await failure(target.as().user.me())).toMatchObject({ appCode: 'SESSION_REVOKED' });
    expect((await file.app.mails()).filter((m) => m.to === target.input.email && m.kind === 'account_enabled')).toHaveLength(1);
  });

  it('a login that started before the disabling commits cannot leave a session behind', async () => {
    const target = await signedUp();
    // Disabled between the password check and the session: the insert sees it under the row lock.
    await file.database.db.updateTable('users').set({ disabled_at: file.app.clock.now() }).where('id', '=', target.userId).execute();
    await expect(
      file.database.db
        .transaction()
        .execute((trx) => file.app.services.sessions.start(target.userId, { ip: undefined, userAgent: undefined }, trx)),
    ).rejects.toMatchObject({ appCode: 'ACCOUNT_DISABLED' });
    const live = await file.database.db
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', target.userId)
      .where('revoked_at', 'is', null)
      .execute();
    expect(live).toHaveLength(1); // the registration's, which a real disabling revokes with it
  });
});

describe('what an admin may not do', () => {
  it('an admin cannot disable or demote themself', async () => {
    const admin = await anAdmin();
    expect(await failure(admin.as().admin.users.disable({ userId: admin.userId, reason: 'oops' }))).toEqual({
      code: 'FORBIDDEN',
      appCode: 'ADMIN_SELF_CHANGE',
    });
    expect(await failure(admin.as().admin.users.setRole({ userId: admin.userId, role: 'user' }))).toMatchObject({
      appCode: 'ADMIN_SELF_CHANGE',
    });
    await expect(admin.as().user.me()).resolves.toMatchObject({ id: admin.userId });
  });

  it('two admins demoting each other at once leave one admin, never none', async () => {
    const a = await anAdmin();
    const b = await anAdmin();
    await file.database.db
      .updateTable('users')
      .set({ role: 'user' })
      .where('role', '=', 'admin')
      .where('id', 'not in', [a.userId, b.userId])
      .execute();
    const outcomes = await Promise.allSettled([
      a.as().admin.users.setRole({ userId: b.userId, role: 'user' }),
      b.as().admin.users.setRole({ userId: a.userId, role: 'user' }),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    // The second is decided after the first, under the admins' row locks: its actor is no admin any more.
    const refused = outcomes.find((o) => o.status === 'rejected');
    const reason = (refused?.status === 'rejected' ? refused.reason : {}) as { cause?: { appCode?: string } };
    expect(reason.cause?.appCode).toMatch(/^(ADMIN_ONLY|LAST_ADMIN)$/);
    const admins = await file.database.db.selectFrom('users').select('id').where('role', '=', 'admin').execute();
    expect(admins).toHaveLength(1);
    // The survivor is now the last admin, and cannot demote themself.
    const survivor = admins[0]?.id === a.userId ? a : b;
    expect(await failure(survivor.as().admin.users.setRole({ userId: survivor.userId, role: 'user' }))).toMatchObject({
      appCode: 'ADMIN_SELF_CHANGE',
    });
  });
});

describe('the admin API', () => {
  it('admin.users.list: by email or username prefix, in pages, with last sign-in and live session count', async () => {
    const admin = await anAdmin();
    const tag = `lst${Math.random().toString(36).slice(2, 7)}`;
    const made = [];
    for (let i = 0; i < 5; i++) {
      const input = { username: `${tag}${i}`, email: `${tag}${i}@example.com`, password: `a long passphrase ${tag}` };
      secrets.add(input.password);
      made.push(await file.app.caller().auth.register(input));
    }
    await signedIn(file.app.caller().auth.login({ email: `${tag}3@example.com`, password: `a long passphrase ${tag}` }));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await admin.as().admin.users.list({ query: tag.toUpperCase(), limit: 2, ...(cursor && { cursor }) });
      seen.push(...page.users.map((u) => u.username));
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => `${tag}${i}`));
    const [three] = (await admin.as().admin.users.list({ query: `${tag}3` })).users;
    expect(three).toMatchObject({ role: 'user', sessionCount: 2, lastSignInAt: file.app.clock.now(), disabledAt: null });
    expect(three).not.toHaveProperty('passwordHash');
    expect((await admin.as().admin.users.list({ query: '%' })).users).toEqual([]);
  });

  it('admin.users.get: the user, their live sessions and their last 50 events, newest first', async () => {
    const admin = await anAdmin();
    const target = await signedUp();
    for (let i = 0; i < 55; i++)
      await failure(file.app.caller().auth.login({ email: target.input.email, password: `wrong passphrase ${i}x` }));
    const got = await admin.as().admin.users.get({ userId: target.userId });
    expect(got.user).toMatchObject({ id: target.userId, email: target.input.email, role: 'user', disabledAt: null });
    expect(got.sessions).toHaveLength(1);
    expect(got.events).toHaveLength(50);
    expect(got.events[0]?.type).toBe('login.failed');
    expect(Number(got.events[0]?.id)).toBeGreaterThan(Number(got.events[49]?.id));
  });

  it('admin.users.revokeSessions ends every session of the user and records it with the admin as actor', async () => {
    const admin = await anAdmin();
    const target = await signedUp();
    await expect(admin.as().admin.users.revokeSessions({ userId: target.userId })).resolves.toEqual({ revoked: 1 });
    expect(await failure(target.as().user.me())).toMatchObject({ appCode: 'SESSION_REVOKED' });
    expect(await onlyEvent(file.database.db, target.userId, 'admin.sessions_revoked')).toMatchObject({
      actor_kind: 'admin',
      actor_id: admin.userId,
      details: { count: 1 },
    });
    // Not disabled: the user signs in again.
    await expect(file.app.caller().auth.login({ email: target.input.email, password: target.input.password })).resolves.toBeDefined();
  });

  it('admin.users.setRole records admin.role_changed with from and to; the new admin can administer', async () => {
    const admin = await anAdmin();
    const target = await signedUp();
    await expect(admin.as().admin.users.setRole({ userId: target.userId, role: 'admin' })).resolves.toMatchObject({ role: 'admin' });
    expect(await onlyEvent(file.database.db, target.userId, 'admin.role_changed')).toMatchObject({
      actor_kind: 'admin',
      actor_id: admin.userId,
      details: { from: 'user', to: 'admin' },
    });
    await expect(target.as().admin.users.list({ limit: 1 })).resolves.toBeDefined();
    await admin.as().admin.users.setRole({ userId: target.userId, role: 'user' });
    expect(await failure(target.as().admin.users.list())).toMatchObject({ appCode: 'ADMIN_ONLY' });
  });

  it('admin:grant (grantByEmail) makes the first admin and records it as done by the system', async () => {
    const target = await signedUp();
    await expect(file.app.services.admin.grantByEmail(target.input.email.toUpperCase())).resolves.toMatchObject({ changed: true });
    await expect(file.app.services.admin.grantByEmail(target.input.email)).resolves.toMatchObject({ changed: false });
    expect(await onlyEvent(file.database.db, target.userId, 'admin.role_changed')).toMatchObject({
      actor_kind: 'system',
      actor_id: null,
      details: { from: 'user', to: 'admin' },
    });
    await expect(file.app.services.admin.grantByEmail('nobody-at-all@example.com')).rejects.toMatchObject({ appCode: 'USER_NOT_FOUND' });
  });

  it('admin.events.list filters by user, type and time, newest first, in pages', async () => {
    const admin = await anAdmin();
    const target = await signedUp();
    file.app.clock.advance(10);
    const since = file.app.clock.now();
    for (let i = 0; i < 3; i++)
      await failure(file.app.caller().auth.login({ email: target.input.email, password: `wrong passphrase ${i}y` }));
    await signedIn(file.app.caller().auth.login({ email: target.input.email, password: target.input.password }));
    const failed = await admin.as().admin.events.list({ userId: target.userId, type: 'login.failed', limit: 2 });
    expect(failed.events.map((e) => e.type)).toEqual(['login.failed', 'login.failed']);
    expect(failed.events[0]).toMatchObject({ userId: target.userId, actorKind: 'user', details: { reason: 'bad_password' } });
    const rest = await admin.as().admin.events.list({ userId: target.userId, type: 'login.failed', cursor: failed.nextCursor ?? '' });
    expect(rest.events).toHaveLength(1);
    expect(rest.nextCursor).toBeNull();
    const recent = await admin.as().admin.events.list({ userId: target.userId, since });
    expect(recent.events.map((e) => e.type)).toEqual(['login.succeeded', 'login.failed', 'login.failed', 'login.failed']);
    expect(await failure(admin.as().admin.events.list({ type: 'not.a.type' as 'login.failed' }))).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('a since or cursor outside what the database can hold is a validation error, never a 500', async () => {
    const admin = await anAdmin();
    for (const since of [new Date(-8.64e15), new Date(8.64e15), new Date('0000-01-01T00:00:00Z')])
      expect(await failure(admin.as().admin.events.list({ since }))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await failure(admin.as().admin.events.list({ cursor: '9999999999999999999' }))).toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('two admins at once', () => {
  it('an admin disabled by another is refused at once, in the transaction: two admins disabling each other leave one', async () => {
    const first = await anAdmin();
    const second = await anAdmin();
    // The second admin's request got past its access-token check just before the first disabled it.
    const secondAuth = { userId: second.userId, sessionId: randomUUID(), authTime: file.app.clock.now(), authMethods: ['pwd'] as const };
    await first.as().admin.users.disable({ userId: second.userId, reason: 'first' });
    await expect(file.app.services.admin.disable(secondAuth, { userId: first.userId, reason: 'second' }, CLIENT)).rejects.toMatchObject({
      appCode: 'ADMIN_ONLY',
    });
    await expect(file.app.services.admin.requireAdmin(secondAuth)).rejects.toMatchObject({ appCode: 'ADMIN_ONLY' });
    expect((await first.as().admin.users.get({ userId: first.userId })).user.disabledAt).toBeNull();
  });

  it('an admin disabled by another cannot change roles any more: neither demote the other nor promote an accomplice', async () => {
    const first = await anAdmin();
    const second = await anAdmin();
    const accomplice = await signedUp();
    const secondAuth = { userId: second.userId, sessionId: randomUUID(), authTime: file.app.clock.now(), authMethods: ['pwd'] as const };
    await first.as().admin.users.disable({ userId: second.userId, reason: 'compromised' });
    for (const change of [
      { userId: first.userId, role: 'user' as const },
      { userId: accomplice.userId, role: 'admin' as const },
    ])
      await expect(file.app.services.admin.setRole(secondAuth, change, CLIENT)).rejects.toMatchObject({ appCode: 'ADMIN_ONLY' });
    expect((await first.as().admin.users.get({ userId: first.userId })).user.role).toBe('admin');
    expect((await first.as().admin.users.get({ userId: accomplice.userId })).user.role).toBe('user');
  });
});

describe('the log holds no secret', () => {
  it('no password or token used in this file is anywhere in the table', async () => {
    await expectNoSecretsInLog(file.database.db, secrets);
  });
});
