/**
 * The security event log (issue 16, items 1 and 2): each type of the catalogue, recorded once by
 * the action it names, in the same transaction as that action; nothing secret ever in it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { SECURITY_EVENT_TYPES } from '../src/modules/audit/audit.service.js';
import { appForFile, newUser, signedIn } from './helpers/app.js';
import { eventsOf, eventsOfRequest, expectNoSecretsInLog, onlyEvent } from './helpers/events.js';
import { failure } from './helpers/failure.js';

const file = appForFile();
/** Every password, token and link code this file uses: none may reach the log. */
const secrets = new Set<string>();

const CLIENT = { ip: '198.51.100.7', userAgent: 'events-test/1.0' };
let requests = 0;
/** A caller as from CLIENT, in a request of its own id. */
function request(accessToken?: string) {
  requests += 1;
  const requestId = `req-${requests}-${Math.random().toString(36).slice(2, 8)}`;
  return { requestId, caller: file.app.caller({ ...CLIENT, requestId, ...(accessToken && { accessToken }) }) };
}

function keep<T extends { accessToken: string; refreshToken: string; deviceToken?: string }>(session: T): T {
  secrets.add(session.accessToken);
  secrets.add(session.refreshToken);
  if (session.deviceToken) secrets.add(session.deviceToken);
  return session;
}

async function signedUp() {
  const input = newUser('events');
  secrets.add(input.password);
  const session = keep(await file.app.caller().auth.register(input));
  return { input, session, userId: session.user.id };
}

async function sessionIds(userId: string): Promise<string[]> {
  const rows = await file.database.db.selectFrom('sessions').select('id').where('user_id', '=', userId).orderBy('created_at').execute();
  return rows.map((row) => row.id);
}

const linkToken = (link: string | undefined) => {
  const url = new URL(link ?? 'http://missing/');
  const token = url.searchParams.get('token') ?? new URLSearchParams(url.hash.slice(1)).get('token') ?? '';
  secrets.add(token);
  return token;
};
const mailsOf = async (kind: string, to: string) =>
  (await file.app.mails()).filter((m) => m.kind === kind && m.to.toLowerCase() === to.toLowerCase());

describe('one event per action, with who, from where, in which request', () => {
  it('user.registered: the new user as actor, the first session, the address, user agent and request id', async () => {
    const input = newUser('events');
    secrets.add(input.password);
    const { requestId, caller } = request();
    const session = keep(await caller.auth.register(input));
    const event = await onlyEvent(file.database.db, session.user.id, 'user.registered');
    expect(event).toMatchObject({
      actor_kind: 'user',
      actor_id: session.user.id,
      session_id: (await sessionIds(session.user.id))[0],
      ip: CLIENT.ip,
      user_agent: CLIENT.userAgent,
      request_id: requestId,
      details: {},
    });
    expect(event.created_at).toEqual(file.app.clock.now());
  });

  it('login.succeeded: the session it started', async () => {
    const { input, userId } = await signedUp();
    const { requestId, caller } = request();
    keep(await signedIn(caller.auth.login({ email: input.email, password: input.password })));
    const event = await onlyEvent(file.database.db, userId, 'login.succeeded');
    expect(event).toMatchObject({ session_id: (await sessionIds(userId))[1], request_id: requestId, ip: CLIENT.ip });
  });

  it('login.failed bad_password: against the account, with no session', async () => {
    const { input, userId } = await signedUp();
    const { caller } = request();
    expect(await failure(caller.auth.login({ email: input.email, password: 'a wrong passphrase here' }))).toMatchObject({
      appCode: 'INVALID_CREDENTIALS',
    });
    expect(await onlyEvent(file.database.db, userId, 'login.failed')).toMatchObject({
      session_id: null,
      details: { reason: 'bad_password' },
    });
  });

  it('login.failed unknown_email: against no one, and the address typed is not kept', async () => {
    const email = `nobody-${Math.random().toString(36).slice(2)}@example.com`;
    const { requestId, caller } = request();
    await failure(caller.auth.login({ email, password: 'whatever passphrase' }));
    const events = await eventsOfRequest(file.database.db, requestId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'login.failed', user_id: null, actor_id: null, details: { reason: 'unknown_email' } });
    expect(JSON.stringify(events)).not.toContain(email);
  });

  it('login.failed throttled: a login refused by the back-off is recorded as such', async () => {
    const { input, userId } = await signedUp();
    let throttled = false;
    for (let i = 0; i < 10 && !throttled; i++) {
      const { caller } = request();
      throttled = (await failure(caller.auth.login({ email: input.email, password: `wrong passphrase ${i}` }))).appCode === 'RATE_LIMITED';
    }
    expect(throttled).toBe(true);
    const reasons = (await eventsOf(file.database.db, userId)).filter((e) => e.type === 'login.failed').map((e) => e.details.reason);
    expect(reasons.at(-1)).toBe('throttled');
    expect(reasons.filter((reason) => reason === 'throttled')).toHaveLength(1);
  });

  it('session.reuse_detected: the system revoked the session whose rotated token came back; an ordinary refresh writes nothing', async () => {
    const { session, userId } = await signedUp();
    const before = (await eventsOf(file.database.db, userId)).length;
    keep(await file.app.caller().auth.refresh({ refreshToken: session.refreshToken }));
    expect(await eventsOf(file.database.db, userId)).toHaveLength(before);
    file.app.clock.advance(60);
    const { requestId, caller } = request();
    expect(await failure(caller.auth.refresh({ refreshToken: session.refreshToken }))).toMatchObject({ appCode: 'REFRESH_TOKEN_REUSED' });
    const [sessionId] = await sessionIds(userId);
    expect(await onlyEvent(file.database.db, userId, 'session.reuse_detected')).toMatchObject({
      actor_kind: 'system',
      actor_id: null,
      session_id: sessionId,
      request_id: requestId,
      details: { revokedSessionIds: [sessionId] },
    });
    // Presented again, it is refused again, and nothing new is revoked or recorded.
    await failure(file.app.caller().auth.refresh({ refreshToken: session.refreshToken }));
    expect((await eventsOf(file.database.db, userId)).filter((e) => e.type === 'session.reuse_detected')).toHaveLength(1);
  });

  it('session.revoked on logout: once, however often the logout is repeated', async () => {
    const { session, userId } = await signedUp();
    const { caller } = request();
    await caller.auth.logout({ refreshToken: session.refreshToken });
    await file.app.caller().auth.logout({ refreshToken: session.refreshToken });
    expect(await onlyEvent(file.database.db, userId, 'session.revoked')).toMatchObject({
      session_id: (await sessionIds(userId))[0],
      details: { reason: 'logout' },
    });
  });

  it('session.revoked from the sessions list: the session ended, reason revoked', async () => {
    const { input, session, userId } = await signedUp();
    keep(await signedIn(file.app.caller().auth.login({ email: input.email, password: input.password })));
    const [, second] = await sessionIds(userId);
    const { caller } = request(session.accessToken);
    await caller.auth.revokeSession({ sessionId: second ?? '' });
    expect(await onlyEvent(file.database.db, userId, 'session.revoked')).toMatchObject({
      session_id: second,
      details: { reason: 'revoked' },
    });
  });

  it('sessions.revoked_all: how many sessions logout-everywhere ended, from which session', async () => {
    const { input, session, userId } = await signedUp();
    keep(await signedIn(file.app.caller().auth.login({ email: input.email, password: input.password })));
    await request(session.accessToken).caller.auth.logoutAll();
    expect(await onlyEvent(file.database.db, userId, 'sessions.revoked_all')).toMatchObject({
      session_id: (await sessionIds(userId))[0],
      details: { count: 2 },
    });
  });

  it('password.changed: by the session that changed it, with how many others it ended', async () => {
    const { input, session, userId } = await signedUp();
    keep(await signedIn(file.app.caller().auth.login({ email: input.email, password: input.password })));
    const newPassword = 'a brand new passphrase for events';
    secrets.add(newPassword);
    await request(session.accessToken).caller.user.changePassword({ currentPassword: input.password, newPassword });
    expect(await onlyEvent(file.database.db, userId, 'password.changed')).toMatchObject({
      session_id: (await sessionIds(userId))[0],
      details: { sessionsRevoked: 1 },
    });
  });

  it('password.reset_requested and password.reset: the request and the use of its link', async () => {
    const { input, userId } = await signedUp();
    await request().caller.auth.forgotPassword({ email: input.email });
    expect(await onlyEvent(file.database.db, userId, 'password.reset_requested')).toMatchObject({ details: {} });
    const [mail] = await mailsOf('reset_password', input.email);
    const newPassword = 'a reset passphrase for events';
    secrets.add(newPassword);
    await request().caller.auth.resetPassword({ token: linkToken(mail?.links[0]), newPassword });
    expect(await onlyEvent(file.database.db, userId, 'password.reset')).toMatchObject({ details: { sessionsRevoked: 1 } });
  });

  it('a reset asked for an unknown address records nothing', async () => {
    const { requestId, caller } = request();
    await caller.auth.forgotPassword({ email: `nobody-${Math.random().toString(36).slice(2)}@example.com` });
    expect(await eventsOfRequest(file.database.db, requestId)).toEqual([]);
  });

  it('email.verified: the address the link proved', async () => {
    const { input, userId } = await signedUp();
    const [mail] = await mailsOf('verify_email', input.email);
    await request().caller.auth.verifyEmail({ token: linkToken(mail?.links[0]) });
    expect(await onlyEvent(file.database.db, userId, 'email.verified')).toMatchObject({ details: { email: input.email } });
  });

  it('email.change_requested, then email.changed once both confirmations are used', async () => {
    const { input, session, userId } = await signedUp();
    const [verification] = await mailsOf('verify_email', input.email);
    await file.app.caller().auth.verifyEmail({ token: linkToken(verification?.links[0]) });
    const newEmail = `moved-${Math.random().toString(36).slice(2, 8)}@example.com`;
    await request(session.accessToken).caller.user.update({ email: newEmail, currentPassword: input.password });
    expect(await onlyEvent(file.database.db, userId, 'email.change_requested')).toMatchObject({ details: { newEmail } });
    const [toNew] = await mailsOf('email_change_new', newEmail);
    const [toCurrent] = await mailsOf('email_change_current', input.email);
    await file.app.caller().auth.verifyEmail({ token: linkToken(toNew?.links[0]) });
    expect((await eventsOf(file.database.db, userId)).filter((e) => e.type === 'email.changed')).toEqual([]);
    await request().caller.auth.verifyEmail({ token: linkToken(toCurrent?.links[0]) });
    expect(await onlyEvent(file.database.db, userId, 'email.changed')).toMatchObject({ details: { from: input.email, to: newEmail } });
  });

  it('reauthenticated: the session that proved itself, and how', async () => {
    const { input, session, userId } = await signedUp();
    keep({ ...(await request(session.accessToken).caller.auth.reauthenticate({ password: input.password })), refreshToken: 'none-none' });
    expect(await onlyEvent(file.database.db, userId, 'reauthenticated')).toMatchObject({
      session_id: (await sessionIds(userId))[0],
      details: { methods: ['pwd'] },
    });
  });

  it('a wrong password on re-authentication records no reauthenticated', async () => {
    const { session, userId } = await signedUp();
    await failure(request(session.accessToken).caller.auth.reauthenticate({ password: 'not the passphrase at all' }));
    expect((await eventsOf(file.database.db, userId)).map((e) => e.type)).toEqual(['user.registered']);
  });
});

/**
 * A new email and a new password in one call, as PUT /api/user sends them (the tRPC procedures
 * split them): one transaction, two events.
 */
async function changeBoth(accessToken: string, change: { email: string; newPassword: string; currentPassword: string }, requestId: string) {
  const auth = await file.app.services.sessions.authenticate(`Bearer ${accessToken}`);
  return file.app.services.accounts.update(auth, change, { ...CLIENT, requestId });
}

describe('events live and die with their transaction', () => {
  it('two events of one request are both kept, with its request id', async () => {
    const { input, session, userId } = await signedUp();
    const newPassword = 'two events passphrase in one call';
    secrets.add(newPassword);
    const requestId = 'req-two-events';
    const email = `both-${Math.random().toString(36).slice(2, 8)}@example.com`;
    await changeBoth(session.accessToken, { email, newPassword, currentPassword: input.password }, requestId);
    expect((await eventsOfRequest(file.database.db, requestId)).map((e) => [e.type, e.user_id])).toEqual([
      ['password.changed', userId],
      ['email.change_requested', userId],
    ]);
  });

  it('a change whose transaction fails leaves no event: the password change recorded before the failure is gone with it', async () => {
    const { input, session, userId } = await signedUp();
    // The mail of the email change, queued after the password change was recorded, cannot be written.
    await sql`create function refuse_change_mail() returns trigger language plpgsql as $$
      begin
        if new.kind = 'email_change_new' then raise exception 'mail refused'; end if;
        return new;
      end $$`.execute(file.database.db);
    await sql`create trigger refuse_change_mail before insert on mail_outbox for each row execute function refuse_change_mail()`.execute(
      file.database.db,
    );
    try {
      const before = await eventsOf(file.database.db, userId);
      const newPassword = 'never saved passphrase for events';
      secrets.add(newPassword);
      await expect(
        changeBoth(session.accessToken, { email: 'never@example.com', newPassword, currentPassword: input.password }, 'req-rolled-back'),
      ).rejects.toThrow(/mail refused/);
      expect(await eventsOf(file.database.db, userId)).toEqual(before);
      expect(await eventsOfRequest(file.database.db, 'req-rolled-back')).toEqual([]);
      // The password change was rolled back with its event: the old password still works.
      keep(await signedIn(file.app.caller().auth.login({ email: input.email, password: input.password })));
    } finally {
      await sql`drop trigger refuse_change_mail on mail_outbox`.execute(file.database.db);
      await sql`drop function refuse_change_mail()`.execute(file.database.db);
    }
  });

  it('the catalogue is closed: every recorded type is one of it', async () => {
    const rows = await file.database.db.selectFrom('security_events').select('type').distinct().execute();
    expect(rows.length).toBeGreaterThan(10);
    for (const { type } of rows) expect(Object.keys(SECURITY_EVENT_TYPES)).toContain(type);
  });
});

describe('the log is append-only', () => {
  it('no source file updates an event, and only the retention batch deletes them', () => {
    const src = fileURLToPath(new URL('../src', import.meta.url));
    const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    const writers = files.filter((file) => /(updateTable|deleteFrom)\(\s*'security_events'/.test(readFileSync(join(src, file), 'utf8')));
    expect(writers).toEqual([join('modules', 'audit', 'security-event.repository.ts')]);
    const repository = readFileSync(join(src, 'modules', 'audit', 'security-event.repository.ts'), 'utf8');
    expect(repository.match(/updateTable\(/g)).toBeNull();
    expect(repository.match(/deleteFrom\(/g)).toHaveLength(1);
    const raw = files.filter((file) => /(update|delete\s+from)\s+security_events/i.test(readFileSync(join(src, file), 'utf8')));
    expect(raw).toEqual([]);
  });
});

describe('the log holds no secret', () => {
  // Last in the file: it looks at everything the tests above recorded.
  it('no password, access, refresh or device token, or link token used in this file is anywhere in the table', async () => {
    await expectNoSecretsInLog(file.database.db, secrets);
  });
});
