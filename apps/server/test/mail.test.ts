import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../src/db/database.js';
import { createLogger } from '../src/lib/logger.js';
import { createFileTransport, createSmtpTransport } from '../src/lib/mailer.js';
import { FORGOT_PASSWORD_MESSAGE } from '../src/modules/account/account.service.js';
import { createMailWorker, retryDelaySeconds } from '../src/modules/mail/mail.worker.js';
import { newUser, type ServedApp, servedApp, signedIn } from './helpers/app.js';
import { migratedTestDatabase, onPostgres, type TestDatabase } from './helpers/database.js';
import { failure } from './helpers/failure.js';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.js';
import { trpcPost } from './helpers/trpc.js';

const BASE_URL = 'https://auth.example.test';
let database: TestDatabase;
let app: ServedApp;
let sink: SmtpSink;

beforeAll(async () => {
  database = await migratedTestDatabase();
  app = await servedApp(database, { env: { BASE_URL } });
  sink = await startSmtpSink();
});
afterAll(async () => {
  await sink?.stop();
  await app?.close();
  await database?.close();
});

const silent = createLogger('silent');
const worker = () =>
  createMailWorker({
    db: database.db,
    clock: app.clock,
    logger: silent,
    transport: createSmtpTransport(sink.url, 'Auth <no-reply@example.test>'),
  });

async function mailsTo(address: string) {
  return (await app.mails()).filter((m) => m.to.toLowerCase() === address.toLowerCase());
}

function tokenOf(link: string | undefined): string {
  const token = link ? (new URL(link).searchParams.get('token') ?? new URLSearchParams(new URL(link).hash.slice(1)).get('token')) : null;
  if (!token) throw new Error(`no token in ${link}`);
  return token;
}

describe('email verification', () => {
  it('registration queues a mail whose link verifies the address once', async () => {
    const input = newUser();
    const session = await app.caller().auth.register(input);
    const [mail] = await mailsTo(input.email);
    expect(mail).toMatchObject({ kind: 'verify_email', subject: 'Confirm your email address' });
    const link = mail?.links[0];
    expect(link?.startsWith(`${BASE_URL}/verify-email?token=`)).toBe(true);
    const token = tokenOf(link);
    expect(Buffer.from(token, 'base64url').length).toBeGreaterThanOrEqual(32);

    // Only a digest is stored.
    const stored = await database.db.selectFrom('email_tokens').selectAll().where('user_id', '=', session.user.id).execute();
    expect(JSON.stringify(stored)).not.toContain(token);

    const { user } = await app.caller().auth.verifyEmail({ token });
    expect(user).toMatchObject({ id: session.user.id, emailVerified: true });
    expect(await failure(app.caller().auth.verifyEmail({ token }))).toEqual({ code: 'BAD_REQUEST', appCode: 'TOKEN_INVALID' });
  });

  it('expires after EMAIL_VERIFICATION_TTL (24 h)', async () => {
    const input = newUser();
    await app.caller().auth.register(input);
    const token = tokenOf((await mailsTo(input.email))[0]?.links[0]);
    app.clock.advance(24 * 3600 + 1);
    expect(await failure(app.caller().auth.verifyEmail({ token }))).toEqual({ code: 'BAD_REQUEST', appCode: 'TOKEN_EXPIRED' });
  });

  it("a token proves only the address it was sent to: after an email change, the old one fails and the new one's works", async () => {
    const input = newUser();
    const session = await app.caller().auth.register(input);
    const oldToken = tokenOf((await mailsTo(input.email))[0]?.links[0]);
    const caller = app.caller({ accessToken: session.accessToken });
    const newEmail = `moved-${input.email}`;
    // The current address was never proven: only the new one has to confirm.
    expect(await caller.user.update({ email: newEmail })).toMatchObject({
      email: input.email,
      pendingEmail: newEmail,
      emailVerified: false,
    });
    const newToken = tokenOf((await mailsTo(newEmail))[0]?.links[0]);
    await expect(app.caller().auth.verifyEmail({ token: newToken })).resolves.toMatchObject({
      user: { email: newEmail, pendingEmail: null, emailVerified: true },
    });
    expect(await failure(app.caller().auth.verifyEmail({ token: oldToken }))).toMatchObject({ appCode: 'TOKEN_INVALID' });
  });

  it('resendVerification queues a new mail for an unverified address, none for a verified one', async () => {
    const input = newUser();
    const session = await app.caller().auth.register(input);
    const caller = app.caller({ accessToken: session.accessToken });
    await expect(caller.auth.resendVerification()).resolves.toEqual({ success: true });
    const mails = await mailsTo(input.email);
    expect(mails).toHaveLength(2);
    await app.caller().auth.verifyEmail({ token: tokenOf(mails[1]?.links[0]) });
    await caller.auth.resendVerification();
    expect(await mailsTo(input.email)).toHaveLength(2);
  });

  it('links come from BASE_URL, never from the Host header', async () => {
    const input = newUser();
    const response = await trpcPost(app.url, 'auth.register', input, { host: 'evil.example', 'x-forwarded-host': 'evil.example' });
    expect(response.status).toBe(200);
    const [mail] = await mailsTo(input.email);
    expect(mail?.links.every((link) => link.startsWith(`${BASE_URL}/`))).toBe(true);
    expect(mail?.text).not.toContain('evil.example');
  });
});

describe('password reset', () => {
  it('answers the same for every address and mails only existing accounts, at their stored address', async () => {
    const input = newUser();
    await app.caller().auth.register(input);
    const known = await app.caller().auth.forgotPassword({ email: input.email.toUpperCase() });
    const unknown = await app.caller().auth.forgotPassword({ email: `nobody-${input.email}` });
    expect(known).toEqual({ message: FORGOT_PASSWORD_MESSAGE });
    expect(unknown).toEqual(known);
    const resets = (await mailsTo(input.email)).filter((m) => m.kind === 'reset_password');
    expect(resets.map((m) => m.to)).toEqual([input.email]);
    expect(await mailsTo(`nobody-${input.email}`)).toEqual([]);
  });

  it('a Unicode look-alike of an address never receives a reset mail', async () => {
    const suffix = newUser().username;
    const kate = { username: `kate${suffix}`, email: `kate${suffix}@example.com`, password: 'kate has a long passphrase' };
    await app.caller().auth.register(kate);
    const lookAlike = `\u212Aate${suffix}@example.com`; // KELVIN SIGN, not K
    await app.caller().auth.forgotPassword({ email: lookAlike });
    const all = await app.mails();
    expect(all.some((m) => m.to === lookAlike)).toBe(false);
    expect(all.filter((m) => m.kind === 'reset_password' && m.to.toLowerCase().includes(`ate${suffix}@`)).map((m) => m.to)).toEqual([
      kate.email,
    ]);
    // Nor can the look-alike become an account of its own.
    expect(await failure(app.caller().auth.register({ ...newUser(), email: lookAlike }))).toMatchObject({ appCode: 'EMAIL_TAKEN' });
  });

  it('resetting sets the password, ends every session and other reset link, and tells the owner', async () => {
    const input = newUser();
    const first = await app.caller().auth.register(input);
    const second = await signedIn(app.caller().auth.login(input));
    await app.caller().auth.forgotPassword({ email: input.email });
    await app.caller().auth.forgotPassword({ email: input.email });
    const [older, newer] = (await mailsTo(input.email)).filter((m) => m.kind === 'reset_password').map((m) => tokenOf(m.links[0]));
    expect(older).toBeDefined();
    const link = (await mailsTo(input.email)).find((m) => m.kind === 'reset_password')?.links[0] ?? '';
    expect(link.startsWith(`${BASE_URL}/reset-password#token=`)).toBe(true);

    const newPassword = 'a fresh and long passphrase';
    await expect(app.caller().auth.resetPassword({ token: newer ?? '', newPassword })).resolves.toEqual({ success: true });
    for (const session of [first, second]) {
      expect(await failure(app.caller({ accessToken: session.accessToken }).user.me())).toMatchObject({ appCode: 'SESSION_REVOKED' });
      expect(await failure(app.caller().auth.refresh({ refreshToken: session.refreshToken }))).toMatchObject({ code: 'UNAUTHORIZED' });
    }
    expect(await failure(app.caller().auth.login(input))).toMatchObject({ appCode: 'INVALID_CREDENTIALS' });
    await expect(app.caller().auth.login({ email: input.email, password: newPassword })).resolves.toHaveProperty('accessToken');
    // Single use, and the other outstanding link died with it.
    expect(await failure(app.caller().auth.resetPassword({ token: newer ?? '', newPassword: 'yet another passphrase' }))).toMatchObject({
      appCode: 'TOKEN_INVALID',
    });
    expect(await failure(app.caller().auth.resetPassword({ token: older ?? '', newPassword: 'yet another passphrase' }))).toMatchObject({
      appCode: 'TOKEN_INVALID',
    });
    expect((await mailsTo(input.email)).map((m) => m.kind)).toContain('password_changed');
  });

  it('a reset link expires after PASSWORD_RESET_TTL (1 h); a weak new password is refused without using the link', async () => {
    const input = newUser();
    await app.caller().auth.register(input);
    await app.caller().auth.forgotPassword({ email: input.email });
    const token = tokenOf((await mailsTo(input.email)).find((m) => m.kind === 'reset_password')?.links[0]);
    expect(await failure(app.caller().auth.resetPassword({ token, newPassword: 'password' }))).toMatchObject({ code: 'BAD_REQUEST' });
    app.clock.advance(3600 + 1);
    expect(await failure(app.caller().auth.resetPassword({ token, newPassword: 'a fresh and long passphrase' }))).toMatchObject({
      appCode: 'TOKEN_EXPIRED',
    });
  });
});

describe('delivery over SMTP', () => {
  it('delivers through a real SMTP server; the link works once; the delivered row keeps no body', async () => {
    const input = newUser();
    await app.caller().auth.register(input);
    expect(await worker().runOnce()).toBeGreaterThanOrEqual(1);
    const received = sink.received.filter((m) => m.to.includes(input.email));
    expect(received).toHaveLength(1);
    expect(received[0]?.body).toContain('Subject: Confirm your email address');
    const token = tokenOf(received[0]?.links.find((l) => l.includes('/verify-email')));
    await expect(app.caller().auth.verifyEmail({ token })).resolves.toMatchObject({ user: { emailVerified: true } });
    expect(await failure(app.caller().auth.verifyEmail({ token }))).toMatchObject({ appCode: 'TOKEN_INVALID' });
    const [row] = await mailsTo(input.email);
    expect(row).toMatchObject({ text: null, links: [] });
    expect(row?.sentAt).toBeInstanceOf(Date);
    const raw = await database.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', input.email).execute();
    expect(JSON.stringify(raw)).not.toContain(token);
  });

  it('with SMTP down, registration still succeeds; the mail goes out exactly once when the server is back', async () => {
    await worker().runOnce(); // nothing else pending
    await sink.stop();
    try {
      const input = newUser();
      await expect(app.caller().auth.register(input)).resolves.toHaveProperty('accessToken');
      const down = worker();
      expect(await down.runOnce()).toBe(0);
      const [row] = await database.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', input.email).execute();
      expect(row).toMatchObject({ attempts: 1, sent_at: null });
      expect(row?.last_error).toBeTruthy();
      await sink.restart();
      expect(await down.runOnce()).toBe(0); // not due yet: back-off
      app.clock.advance(retryDelaySeconds(1));
      expect(await down.runOnce()).toBe(1);
      expect(await down.runOnce()).toBe(0);
      expect(sink.received.filter((m) => m.to.includes(input.email))).toHaveLength(1);
    } finally {
      await sink.restart().catch(() => undefined);
    }
  });

  it.runIf(onPostgres)('two workers on one PostgreSQL database deliver each queued mail exactly once', async () => {
    await worker().runOnce();
    const before = sink.received.length;
    const users = Array.from({ length: 30 }, () => newUser('many'));
    for (const input of users) await app.caller().auth.register(input);
    const second = await createDatabase({ kind: 'postgres', url: database.url ?? '' });
    try {
      const transport = () => createSmtpTransport(sink.url, 'Auth <no-reply@example.test>');
      const workers = [
        createMailWorker({ db: database.db, clock: app.clock, logger: silent, transport: transport() }),
        createMailWorker({ db: second.db, clock: app.clock, logger: silent, transport: transport() }),
      ];
      const delivered = await Promise.all(workers.map((w) => w.runOnce()));
      expect(delivered.reduce((a, b) => a + b, 0)).toBe(30);
      const recipients = sink.received.slice(before).flatMap((m) => m.to);
      expect(recipients).toHaveLength(30);
      expect(new Set(recipients)).toEqual(new Set(users.map((u) => u.email)));
    } finally {
      await second.close();
    }
  });

  it('without SMTP_URL, mails become .eml files with each link whole on one plain line; the log names the file but never the link', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'latchkey-mail-'));
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
    await worker().runOnce();
    const input = newUser();
    await app.caller().auth.register(input);
    const token = tokenOf((await mailsTo(input.email))[0]?.links[0]);
    const files = createMailWorker({
      db: database.db,
      clock: app.clock,
      logger,
      transport: createFileTransport(directory, 'Auth <a@b.c>', logger),
    });
    expect(await files.runOnce()).toBe(1);
    const [file] = readdirSync(directory);
    expect(file).toMatch(/\.eml$/);
    const eml = readFileSync(join(directory, file ?? ''), 'utf8');
    expect(eml).toContain(`To: ${input.email}`);
    expect(eml).not.toMatch(/quoted-printable|base64/i);
    expect(eml).toMatch(/^Content-Transfer-Encoding: 8bit$/m);
    // The link a developer copies from `cat`: the whole URL, token included, on a line of its own.
    const link = eml.split('\n').find((line) => line.includes(token));
    expect(link?.trim()).toMatch(new RegExp(`(^|\\s)https://auth\\.example\\.test/verify-email\\?token=${token}$`));
    expect(lines.join('')).toContain(file);
    expect(lines.join('')).not.toContain(token);
  });
});

describe('the pages the links open', () => {
  const verifiedAt = async (email: string) =>
    (await database.db.selectFrom('users').select('email_verified_at').where('email', '=', email).executeTakeFirstOrThrow())
      .email_verified_at;
  const postToken = (token: string) =>
    fetch(`${app.url}/verify-email`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });

  it('the verification page is a button; its form confirms, then says the link was used; it never logs or shows the token', async () => {
    const input = newUser();
    await app.caller().auth.register(input);
    const token = tokenOf((await mailsTo(input.email))[0]?.links[0]);
    const opened = await fetch(`${app.url}/verify-email?token=${token}`);
    expect(opened.status).toBe(200);
    expect(opened.headers.get('referrer-policy')).toBe('no-referrer');
    expect(opened.headers.get('cache-control')).toBe('no-store');
    expect(opened.headers.get('content-security-policy')).toMatch(/form-action 'self'/);
    const form = await opened.text();
    expect(form).toContain('<form method="post" action="/verify-email">');
    expect(form).toContain(`<input type="hidden" name="token" value="${token}">`);
    expect(await verifiedAt(input.email)).toBeNull();

    const first = await postToken(token);
    expect(first.status).toBe(200);
    expect(first.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await first.text();
    expect(html).toContain('Address confirmed');
    expect(html).not.toContain(token);
    expect(await verifiedAt(input.email)).toBeInstanceOf(Date);
    const again = await postToken(token);
    expect(again.status).toBe(404);
    expect(await again.text()).toContain('already used');
    expect(app.requests.some((r) => r.path.includes(token))).toBe(false);
  });

  it('a GET of the verification link alone (a mail scanner) consumes nothing', async () => {
    const input = newUser();
    await app.caller().auth.register(input);
    const token = tokenOf((await mailsTo(input.email))[0]?.links[0]);
    for (let i = 0; i < 3; i++) expect((await fetch(`${app.url}/verify-email?token=${token}`)).status).toBe(200);
    expect((await fetch(`${app.url}/verify-email?token=${token}`, { method: 'HEAD' })).status).toBe(200);
    expect(await verifiedAt(input.email)).toBeNull();
    // The link still works for its owner afterwards.
    expect((await postToken(token)).status).toBe(200);
    expect(await verifiedAt(input.email)).toBeInstanceOf(Date);
  });

  it('the verification form refuses a body that is not a form, or too large, without using the token', async () => {
    const input = newUser();
    await app.caller().auth.register(input);
    const token = tokenOf((await mailsTo(input.email))[0]?.links[0]);
    const json = await fetch(`${app.url}/verify-email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    expect(json.status).toBe(415);
    const huge = await fetch(`${app.url}/verify-email`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${token}&pad=${'x'.repeat(10_000)}`,
    });
    expect(huge.status).toBe(413);
    expect(await verifiedAt(input.email)).toBeNull();
  });

  it('an expired verification link says so', async () => {
    const input = newUser();
    await app.caller().auth.register(input);
    const token = tokenOf((await mailsTo(input.email))[0]?.links[0]);
    app.clock.advance(24 * 3600 + 1);
    const response = await postToken(token);
    expect(response.status).toBe(410);
    expect(await response.text()).toContain('expired');
  });

  it('the reset page is a form that reads its token from the fragment, under a strict policy', async () => {
    const response = await fetch(`${app.url}/reset-password`);
    expect(response.status).toBe(200);
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'nonce-/);
    const html = await response.text();
    expect(html).toContain('<form');
    expect(html).toContain('location.hash');
    expect(html).toContain('history.replaceState');
  });
});
