/**
 * The second factor (issue 17): TOTP with recovery codes, the login that asks for it, and the
 * re-authentication that needs it. Codes are computed by the test kit's RFC 6238 (`totpCode`,
 * node:crypto), checked here against the RFC's test vectors, never by otplib.
 */
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { matchTotp } from '../src/lib/totp.js';
import { fromBase32, totpCode } from '../src/testing.js';
import { newUser, servedForFile } from './helpers/app.js';
import { failure } from './helpers/failure.js';

const file = servedForFile();

// --- Helpers -------------------------------------------------------------------------------------

const now = () => Math.floor(file.app.clock.now().getTime() / 1000);
/** The code of the authenticator app `offset` steps from now. */
const codeFor = (secret: Buffer, offset = 0) => totpCode(secret, file.app.clock.now(), { offsetSteps: offset });
/** A well-formed code that none of the steps the server accepts now (one either side) gives. */
const wrongCode = (secret: Buffer) => {
  const accepted = new Set([-1, 0, 1].map((offset) => codeFor(secret, offset)));
  return ['000000', '111111', '222222', '333333'].find((code) => !accepted.has(code)) ?? '444444';
};
/** Moves the clock to the start of the next step: a code of a step not used yet. */
const nextStep = () => file.app.clock.advance(30 - (now() % 30));

async function eventsOf(userId: string, type: string) {
  return file.database.db.selectFrom('security_events').selectAll().where('user_id', '=', userId).where('type', '=', type).execute();
}

/** A registered user with an active authenticator app: its secret and recovery codes. */
async function withTotp(label = 'mfa') {
  const input = newUser(label);
  const session = await file.app.caller().auth.register(input);
  const as = (accessToken = session.accessToken) => file.app.caller({ accessToken });
  const enrolled = await as().auth.mfa.totp.enroll();
  const secret = fromBase32(enrolled.secret);
  const { recoveryCodes } = await as().auth.mfa.totp.confirm({ factorId: enrolled.factorId, code: codeFor(secret) });
  nextStep();
  return { input, session, as, secret, factorId: enrolled.factorId, recoveryCodes, enrolled };
}

let addresses = 0;
/** A client address of its own for each sign-in, unless one is given: the back-off is per (account, address). */
const anAddress = () => {
  addresses += 1;
  return `198.18.${Math.floor(addresses / 250)}.${(addresses % 250) + 1}`;
};

async function mfaTokenOf(input: { email: string; password: string }, ip = anAddress()): Promise<string> {
  const answer = await file.app.caller({ ip }).auth.login({ email: input.email, password: input.password });
  if (!('mfaRequired' in answer)) throw new Error('the login did not ask for the second factor');
  return answer.mfaToken;
}

describe('TOTP codes', () => {
  it("the kit's RFC 6238 matches the RFC's Appendix B vectors, and the server accepts those codes", async () => {
    const secret = Buffer.from('12345678901234567890');
    const vectors: Array<[number, string]> = [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
      [20000000000, '65353130'],
    ];
    for (const [time, code] of vectors) {
      expect(totpCode(secret, new Date(time * 1000), { digits: 8 })).toBe(code);
      // The server's 6-digit codes are the same truncation, modulo 10^6.
      await expect(matchTotp(secret, code.slice(2), new Date(time * 1000), -1)).resolves.toBe(Math.floor(time / 30));
    }
    // The same secret as enrolment shows it: base32.
    const base32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
    expect(fromBase32(base32)).toEqual(secret);
    expect(totpCode(base32, new Date(59_000), { digits: 8 })).toBe('94287082');
  });

  it('enrolment gives an otpauth URI that parses, whose codes the server accepts; confirming it creates 10 recovery codes, once', async () => {
    const input = newUser('enrol');
    const session = await file.app.caller().auth.register(input);
    const as = file.app.caller({ accessToken: session.accessToken });
    const enrolled = await as.auth.mfa.totp.enroll();
    const uri = new URL(enrolled.otpauthUri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe(`/Latchkey:${input.email}`);
    expect(uri.searchParams.get('secret')).toBe(enrolled.secret);
    expect(uri.searchParams.get('issuer')).toBe('Latchkey');
    const secret = fromBase32(enrolled.secret);
    expect(secret).toHaveLength(20);
    // Pending: not listed, and the login does not ask for it yet.
    expect(await as.auth.mfa.factors()).toEqual([]);
    await expect(file.app.caller().auth.login(input)).resolves.toHaveProperty('accessToken');

    const { recoveryCodes } = await as.auth.mfa.totp.confirm({ factorId: enrolled.factorId, code: codeFor(secret) });
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const code of recoveryCodes) expect(code).toMatch(/^[A-Z2-7]{10}$/);
    expect(await as.auth.mfa.factors()).toEqual([
      { id: enrolled.factorId, type: 'totp', createdAt: expect.any(Date), lastUsedAt: expect.any(Date) },
    ]);
    expect(await eventsOf(session.user.id, 'mfa.enrolled')).toHaveLength(1);
    // Confirmed once: the same factor cannot be confirmed again, nor a second one started.
    nextStep();
    expect(await failure(as.auth.mfa.totp.confirm({ factorId: enrolled.factorId, code: codeFor(secret) }))).toMatchObject({
      appCode: 'FACTOR_NOT_FOUND',
    });
    // Another set-up needs a proof that included the factor now; with it, one app is the limit.
    expect(await failure(as.auth.mfa.totp.enroll())).toMatchObject({ code: 'FORBIDDEN', appCode: 'REAUTHENTICATION_REQUIRED' });
    const sudo = await as.auth.reauthenticate({ code: codeFor(secret) });
    expect(await failure(file.app.caller({ accessToken: sudo.accessToken }).auth.mfa.totp.enroll())).toMatchObject({
      code: 'CONFLICT',
      appCode: 'FACTOR_EXISTS',
    });
  });

  it('enrolling twice while the first set-up is pending is FACTOR_EXISTS; an abandoned set-up makes way after 10 minutes', async () => {
    const session = await file.app.caller().auth.register(newUser('pending'));
    const as = () => file.app.caller({ accessToken: session.accessToken });
    const first = await as().auth.mfa.totp.enroll();
    expect(await failure(as().auth.mfa.totp.enroll())).toMatchObject({ code: 'CONFLICT', appCode: 'FACTOR_EXISTS' });
    file.app.clock.advance(10 * 60 + 1);
    expect(await failure(as().auth.mfa.totp.confirm({ factorId: first.factorId, code: '123456' }))).toMatchObject({
      appCode: 'FACTOR_NOT_FOUND',
    });
  });

  it('the secret cannot be read from the database row, and a sealed secret copied to another factor does not open', async () => {
    const first = await withTotp('sealed-a');
    const second = await withTotp('sealed-b');
    const rows = await file.database.db
      .selectFrom('mfa_factors')
      .selectAll()
      .where('id', 'in', [first.factorId, second.factorId])
      .execute();
    for (const row of rows) {
      const stored = JSON.stringify(row);
      expect(stored).not.toContain(first.enrolled.secret);
      expect(stored).not.toContain(first.secret.toString('hex'));
      expect(stored).not.toContain(first.secret.toString('base64'));
      expect(stored).not.toContain(first.secret.toString('base64url'));
    }
    // The attacker's row gets the victim's sealed secret: the attacker's codes no longer work, nor the victim's.
    const victim = rows.find((row) => row.id === first.factorId);
    await file.database.db
      .updateTable('mfa_factors')
      .set({ secret_sealed: victim?.secret_sealed ?? '' })
      .where('id', '=', second.factorId)
      .execute();
    const token = await mfaTokenOf(second.input);
    expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken: token, code: codeFor(first.secret) }))).toMatchObject({
      appCode: 'MFA_CODE_INVALID',
    });
  });

  it('a code of the current step and of one step either side is accepted; two steps away is refused', async () => {
    const { as, secret, input } = await withTotp('window');
    // Past the steps the set-up used.
    file.app.clock.advance(5 * 30);
    const fresh = await as().auth.reauthenticate({ password: input.password });
    const me = () => as(fresh.accessToken);
    expect(await failure(me().auth.reauthenticate({ code: codeFor(secret, -2) }))).toMatchObject({ appCode: 'MFA_CODE_INVALID' });
    await expect(me().auth.reauthenticate({ code: codeFor(secret, -1) })).resolves.toHaveProperty('accessToken');
    nextStep();
    expect(await failure(me().auth.reauthenticate({ code: codeFor(secret, 2) }))).toMatchObject({ appCode: 'MFA_CODE_INVALID' });
    await expect(me().auth.reauthenticate({ code: codeFor(secret, 1) })).resolves.toHaveProperty('accessToken');
    // After a code of step+1, the current step's code is a step at or below the last used one.
    expect(await failure(me().auth.reauthenticate({ code: codeFor(secret) }))).toMatchObject({ appCode: 'MFA_CODE_INVALID' });
  });
});

describe('login with a second factor', () => {
  it('asks for the code instead of starting a session, then answers the session with amr pwd+otp+mfa and aal 2', async () => {
    const { input, session, secret, factorId } = await withTotp('login');
    const sessionsBefore = await file.app.caller({ accessToken: session.accessToken }).auth.sessions();
    const answer = await file.app.caller().auth.login({ email: input.email, password: input.password });
    expect(answer).toEqual({ mfaRequired: true, mfaToken: expect.any(String), factors: [{ id: factorId, type: 'totp' }] });
    expect(answer).not.toHaveProperty('accessToken');
    expect(await file.app.caller({ accessToken: session.accessToken }).auth.sessions()).toHaveLength(sessionsBefore.length);

    const mfaToken = 'mfaToken' in answer ? answer.mfaToken : '';
    const signedIn = await file.app.caller().auth.mfa.verify({ mfaToken, code: codeFor(secret) });
    expect(signedIn.user.email).toBe(input.email);
    expect(decodeJwt(signedIn.accessToken)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], aal: 2 });
    expect(signedIn.deviceToken).toEqual(expect.any(String));
    // Single use.
    nextStep();
    expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken, code: codeFor(secret) }))).toMatchObject({
      code: 'UNAUTHORIZED',
      appCode: 'MFA_TOKEN_INVALID',
    });
  });

  it('a code is never accepted twice: again in the same step, nor twice at once', async () => {
    const { input, secret } = await withTotp('replay');
    const code = codeFor(secret);
    await file.app.caller().auth.mfa.verify({ mfaToken: await mfaTokenOf(input), code });
    expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken: await mfaTokenOf(input), code }))).toMatchObject({
      appCode: 'MFA_CODE_INVALID',
    });

    nextStep();
    const next = codeFor(secret);
    const tokens = await Promise.all([mfaTokenOf(input), mfaTokenOf(input), mfaTokenOf(input), mfaTokenOf(input)]);
    const outcomes = await Promise.allSettled(tokens.map((mfaToken) => file.app.caller().auth.mfa.verify({ mfaToken, code: next })));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
  });

  it('a recovery code works once, also when sent twice at once; its use is recorded and mailed', async () => {
    const { input, session, recoveryCodes } = await withTotp('recovery');
    const [first, second] = recoveryCodes;
    // Typed in lower case with a dash: the same code.
    const typed = `${first?.slice(0, 5)}-${first?.slice(5)}`.toLowerCase();
    const signedIn = await file.app.caller().auth.mfa.verify({ mfaToken: await mfaTokenOf(input), recoveryCode: typed });
    expect(decodeJwt(signedIn.accessToken)).toMatchObject({ aal: 2 });
    expect(
      await failure(file.app.caller().auth.mfa.verify({ mfaToken: await mfaTokenOf(input), recoveryCode: first ?? '' })),
    ).toMatchObject({ appCode: 'MFA_CODE_INVALID' });
    const tokens = await Promise.all([mfaTokenOf(input), mfaTokenOf(input), mfaTokenOf(input)]);
    const outcomes = await Promise.allSettled(
      tokens.map((mfaToken) => file.app.caller().auth.mfa.verify({ mfaToken, recoveryCode: second ?? '' })),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const used = await eventsOf(session.user.id, 'mfa.recovery_code_used');
    expect(used.map((event) => event.details)).toEqual(expect.arrayContaining([{ remaining: 9 }, { remaining: 8 }]));
    const notices = (await file.app.mails()).filter((mail) => mail.to === input.email && /recovery code was used/i.test(mail.subject));
    expect(notices).toHaveLength(2);
    for (const mail of notices) expect(mail.text).not.toContain(first ?? 'none');
  });

  it('an mfaToken expires after 5 minutes, dies after 5 wrong codes, and an unknown one is refused alike', async () => {
    const { input, secret } = await withTotp('token');
    const expiring = await mfaTokenOf(input);
    file.app.clock.advance(5 * 60 + 1);
    expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken: expiring, code: codeFor(secret) }))).toMatchObject({
      appCode: 'MFA_TOKEN_EXPIRED',
    });

    // Five wrong codes (from a device the back-off does not stop: each from its own address).
    const dying = await mfaTokenOf(input, '198.51.100.1');
    const wrong = wrongCode(secret);
    for (let i = 0; i < 5; i += 1) {
      file.app.clock.advance(16 * 60);
      expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken: dying, code: wrong }))).toMatchObject({
        appCode: expect.stringMatching(/^(MFA_CODE_INVALID|MFA_TOKEN_EXPIRED)$/),
      });
    }
    expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken: 'not-a-token-of-ours', code: '123456' }))).toMatchObject({
      appCode: 'MFA_TOKEN_INVALID',
    });
  });

  it('five wrong codes end the token even with the right code after them; malformed codes cost no attempt', async () => {
    const { input, secret, session } = await withTotp('attempts');
    const mfaToken = await mfaTokenOf(input);
    for (const malformed of ['12345', 'abcdef', '1234567', '']) {
      expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken, code: malformed }))).toMatchObject({
        code: expect.stringMatching(/^(UNAUTHORIZED|BAD_REQUEST)$/),
      });
    }
    expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken, recoveryCode: 'short' }))).toMatchObject({
      appCode: 'MFA_CODE_INVALID',
    });
    expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken, code: '123456', recoveryCode: 'AAAAAAAAAA' }))).toMatchObject({
      code: 'BAD_REQUEST',
    });
    const wrong = wrongCode(secret);
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, () => failure(file.app.caller().auth.mfa.verify({ mfaToken, code: wrong }))),
    );
    // At most 5 were checked (MFA_CODE_INVALID); the rest found the token used up or the back-off running.
    expect(outcomes.filter((o) => o.appCode === 'MFA_CODE_INVALID').length).toBeLessThanOrEqual(5);
    file.app.clock.advance(16 * 60);
    expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken, code: codeFor(secret) }))).toMatchObject({
      appCode: expect.stringMatching(/^(MFA_TOKEN_INVALID|MFA_TOKEN_EXPIRED)$/),
    });
    expect((await eventsOf(session.user.id, 'mfa.failed')).length).toBeGreaterThan(0);
  });

  it('the sixth code for one mfaToken is refused even when right, while the token is young and the back-off has passed', async () => {
    const { input, secret } = await withTotp('sixth');
    const mfaToken = await mfaTokenOf(input);
    const wrong = wrongCode(secret);
    for (let i = 0; i < 5; i += 1) {
      expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken, code: wrong }))).toMatchObject({ appCode: 'MFA_CODE_INVALID' });
    }
    // Past the back-off's first wait (1 s after five failures), well within the token's 5 minutes.
    file.app.clock.advance(20);
    expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken, code: codeFor(secret) }))).toMatchObject({
      appCode: 'MFA_TOKEN_INVALID',
    });
  });

  it('wrong codes count in the login back-off: the password step and the codes after it are refused with RATE_LIMITED', async () => {
    const { input, secret } = await withTotp('backoff');
    const wrong = wrongCode(secret);
    const outcomes: string[] = [];
    for (let round = 0; round < 3; round += 1) {
      const answer = await file.app
        .caller({ ip: '203.0.113.9' })
        .auth.login({ email: input.email, password: input.password })
        .catch((error: { cause?: { appCode?: string } }) => error.cause?.appCode ?? 'error');
      if (typeof answer === 'string') {
        outcomes.push(answer);
        continue;
      }
      if (!('mfaToken' in answer)) throw new Error('no second step');
      for (let i = 0; i < 3; i += 1)
        outcomes.push(
          (await failure(file.app.caller({ ip: '203.0.113.9' }).auth.mfa.verify({ mfaToken: answer.mfaToken, code: wrong }))).appCode ?? '',
        );
    }
    expect(outcomes).toContain('RATE_LIMITED');
    // Time passes, and the owner's right code works again.
    file.app.clock.advance(16 * 60);
    const mfaToken = await mfaTokenOf(input, '203.0.113.9');
    await expect(file.app.caller({ ip: '203.0.113.9' }).auth.mfa.verify({ mfaToken, code: codeFor(secret) })).resolves.toHaveProperty(
      'accessToken',
    );
  });

  it('a password reset does not bypass the factor: it starts no session, ends pending sign-ins, and the next login asks again', async () => {
    const { input, secret } = await withTotp('reset');
    const pending = await mfaTokenOf(input);
    await file.app.caller().auth.forgotPassword({ email: input.email });
    const mail = (await file.app.mails()).filter((m) => m.to === input.email && m.kind === 'reset_password').at(-1);
    // Reset links carry the token in the fragment (#token=...), never sent to a server by the browser.
    const token = new URLSearchParams(new URL(mail?.links[0] ?? 'http://missing/').hash.slice(1)).get('token') ?? '';
    const reset = await file.app.caller().auth.resetPassword({ token, newPassword: 'a brand new passphrase' });
    expect(reset).toEqual({ success: true });
    expect(await failure(file.app.caller().auth.mfa.verify({ mfaToken: pending, code: codeFor(secret) }))).toMatchObject({
      appCode: 'MFA_TOKEN_INVALID',
    });
    const answer = await file.app.caller().auth.login({ email: input.email, password: 'a brand new passphrase' });
    expect(answer).toMatchObject({ mfaRequired: true });
  });
});

describe('re-authentication with a second factor', () => {
  it("a password-only re-authentication is refused for an MFA user's sensitive action; a code makes it pass", async () => {
    const { input, as, secret, factorId } = await withTotp('sudo');
    file.app.clock.advance(6 * 60);
    const byPassword = await as().auth.reauthenticate({ password: input.password });
    expect(decodeJwt(byPassword.accessToken)).toMatchObject({ amr: ['pwd'], aal: 1 });
    const withPassword = as(byPassword.accessToken);
    for (const attempt of [
      () => withPassword.user.update({ email: `new-${input.email}` }),
      () => withPassword.user.changePassword({ currentPassword: input.password, newPassword: 'an attacker chosen passphrase' }),
      () => withPassword.auth.mfa.remove({ factorId }),
      () => withPassword.auth.mfa.recoveryCodes.regenerate(),
    ]) {
      expect(await failure(attempt())).toMatchObject({ code: 'FORBIDDEN', appCode: 'REAUTHENTICATION_REQUIRED' });
    }
    expect(await failure(as().user.update({ email: `new-${input.email}`, currentPassword: input.password }))).toMatchObject({
      appCode: 'REAUTHENTICATION_REQUIRED',
    });

    const byCode = await as().auth.reauthenticate({ code: codeFor(secret) });
    expect(decodeJwt(byCode.accessToken)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], aal: 2 });
    const sudo = as(byCode.accessToken);
    const { recoveryCodes } = await sudo.auth.mfa.recoveryCodes.regenerate();
    expect(recoveryCodes).toHaveLength(10);
    await expect(sudo.auth.mfa.remove({ factorId })).resolves.toEqual({ success: true });
    expect(await sudo.auth.mfa.factors()).toEqual([]);
    // Without a factor, the login no longer asks, and the recovery codes went with it.
    await expect(file.app.caller().auth.login(input)).resolves.toHaveProperty('accessToken');
    const codes = await file.database.db.selectFrom('mfa_recovery_codes').selectAll().execute();
    expect(codes.filter((row) => recoveryCodes.includes(row.code_digest))).toEqual([]);
  });

  it('a factor id of another user is FACTOR_NOT_FOUND, and a code for an account without a factor is refused', async () => {
    const owner = await withTotp('owner');
    const other = newUser('other');
    const session = await file.app.caller().auth.register(other);
    const as = file.app.caller({ accessToken: session.accessToken });
    expect(await failure(as.auth.mfa.remove({ factorId: owner.factorId }))).toMatchObject({ appCode: 'FACTOR_NOT_FOUND' });
    expect(await failure(as.auth.mfa.totp.confirm({ factorId: owner.factorId, code: '123456' }))).toMatchObject({
      appCode: 'FACTOR_NOT_FOUND',
    });
    expect(await failure(as.auth.reauthenticate({ code: '123456' }))).toMatchObject({
      code: expect.stringMatching(/^(NOT_FOUND|UNAUTHORIZED)$/),
    });
    expect(await owner.as().auth.mfa.factors()).toHaveLength(1);
  });
});
