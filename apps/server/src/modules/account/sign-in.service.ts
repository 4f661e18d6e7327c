/** Registration and login: proving who you are, answered with a new session. */
import { randomUUID } from 'node:crypto';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/errors.js';
import type { MfaLoginCounts, UserRow } from '../../db/schema.js';
import type { DeviceTokenCodec } from '../../lib/device-token.js';
import { AppError } from '../../lib/errors.js';
import type { LoginFailure } from '../audit/audit.service.js';
import type { FactorType, MfaService, SecondFactorInput } from '../mfa/mfa.service.js';
import type { PasskeyService, VerifiedAssertion } from '../mfa/passkey.service.js';
import type { AuthProof, ClientInfo, Tokens } from '../session/session.service.js';
import { LIMITS, throttleKey, type Verdict } from '../throttle/throttle.policy.js';
import { type User, userRowToUser } from '../user/user.service.js';
import type { LoginInput, RegisterInput, VerifyMfaInput } from './account.schemas.js';
import type { AccountDeps } from './account.service.js';
import { queueVerificationMail } from './account-mail.js';

export interface Session extends Tokens {
  user: User;
  /** Sent back with the next logins from this device: strangers' failures then cannot lock it out. */
  deviceToken: string;
}

/** A login whose password was right, for an account with a second factor: continued by auth.mfa.verify. */
export interface MfaRequired {
  mfaRequired: true;
  mfaToken: string;
  factors: { id: string; type: FactorType }[];
}

const PASSWORD_METHODS: AuthProof = { methods: ['pwd'] };
/** A user-verified passkey: something held, unlocked by something known or been (RFC 8176 `hwk`, aal 2). */
const PASSKEY_METHODS: AuthProof = { methods: ['hwk'] };
/** An external identity's sign-in (RFC 8176 `fed`). */
const FEDERATED_METHODS: AuthProof = { methods: ['fed'] };

function refuse(verdict: Verdict): void {
  if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
}

export function createSignInService(deps: AccountDeps & { deviceTokens: DeviceTokenCodec; mfa: MfaService; passkeys: PasskeyService }) {
  const { db, clock, config, hasher, throttle, users, sessions, audit, deviceTokens, mfa, passkeys, mailQueued } = deps;

  /** A refused login is recorded on its own: there is no change whose transaction could hold it. */
  const failed = (userId: string | null, reason: LoginFailure, client: ClientInfo) =>
    audit.record(db, { type: 'login.failed', userId, client, details: { reason } });

  /** A login that proved who it is ends every run of failures it took part in, and the account's consecutive count. */
  async function succeeded(login: MfaLoginCounts): Promise<void> {
    await throttle.loginSucceeded(...new Set([...login.counts.map(([key]) => key), login.account]));
    await throttle.release(login.address);
  }

  /**
   * Counts a sign-in attempt per client address before the account is looked up or anything is
   * checked (a refusal is recorded against no one). Its key: a sign-in that passes gives it back.
   */
  async function takeAddressAttempt(client: ClientInfo, now: Date): Promise<string> {
    const addressKey = throttleKey.loginAddress(client.ip);
    const perAddress = await throttle.hit(addressKey, LIMITS.loginFailuresPerAddress, now);
    if (!perAddress.allowed) {
      await failed(null, 'throttled', client);
      refuse(perAddress);
    }
    return addressKey;
  }

  /**
   * Starts the session of a login, with its event, in one transaction; `within` runs in it once
   * the session exists (a second factor being used up, recorded with the session), and what it
   * throws rolls the whole back: no token of the session ever leaves.
   */
  async function startSession(
    user: UserRow,
    client: ClientInfo,
    login: MfaLoginCounts,
    proof: AuthProof,
    provenHash: string | undefined,
    within?: (trx: Db, sessionId: string) => Promise<void>,
    /** The external provider of a federated sign-in, recorded with its event. */
    provider?: string,
  ): Promise<Session> {
    const now = clock.now();
    let started: Awaited<ReturnType<typeof sessions.start>>;
    try {
      started = await db.transaction().execute(async (trx) => {
        // With provenHash: only while the password checked is still the account's (a change or
        // reset may have committed meanwhile). A pending sign-in dies with such a change instead.
        const session = await sessions.start(user.id, client, trx, proof, provenHash);
        await within?.(trx, session.sessionId);
        const details = { methods: [...proof.methods], ...(provider !== undefined && { provider }) };
        await audit.record(trx, { type: 'login.succeeded', userId: user.id, sessionId: session.sessionId, client, details });
        return session;
      });
    } catch (error) {
      // Disabled while this login ran (sessions.start decided under the user's row lock).
      if (error instanceof AppError && error.appCode === 'ACCOUNT_DISABLED') await failed(user.id, 'disabled', client);
      // The password changed while this login checked the old one: that one no longer works.
      if (error instanceof AppError && error.appCode === 'INVALID_CREDENTIALS') await failed(user.id, 'bad_password', client);
      throw error;
    }
    return {
      user: userRowToUser(user),
      ...started.tokens,
      deviceToken: deviceTokens.issue(user.id, now, login.deviceId ?? undefined),
    };
  }

  return {
    async register(input: RegisterInput, client: ClientInfo): Promise<Session> {
      refuse(await throttle.hit(throttleKey.registerAddress(client.ip), LIMITS.registrationsPerAddress, clock.now()));
      const passwordHash = await hasher.hash(input.password);
      const now = clock.now();
      try {
        // The user and its first session are written together or not at all.
        const session = await db.transaction().execute(async (trx) => {
          const user = await users.insert(
            {
              id: randomUUID(),
              email: input.email,
              username: input.username,
              password_hash: passwordHash,
              bio: null,
              image: null,
              email_verified_at: null,
              created_at: now,
              updated_at: now,
            },
            trx,
          );
          const { sessionId, tokens } = await sessions.start(user.id, client, trx);
          await audit.record(trx, { type: 'user.registered', userId: user.id, sessionId, client });
          // The mail is queued with the account: both exist, or neither. SMTP is never waited on.
          await queueVerificationMail(trx, user, config, now);
          return { user: userRowToUser(user), ...tokens, deviceToken: deviceTokens.issue(user.id, now) };
        });
        mailQueued();
        return session;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        throw (await users.conflict(input)) ?? error;
      }
    },

    /**
     * Attempts are counted before the password is checked and given back on success: per client
     * address (always); then, from a device that signed in to this account before (a valid device
     * token), per (account, device) alone; from anywhere else, per (account, address) with its
     * back-off and per account with the hard cap. Strangers' failures therefore never lock out
     * the owner's devices, and cost the owner elsewhere at most the cap's wait (OWASP's device
     * cookies; NIST 800-63B's 100 consecutive failures).
     */
    async login(input: LoginInput, client: ClientInfo): Promise<Session | MfaRequired> {
      const now = clock.now();
      const addressKey = await takeAddressAttempt(client, now);
      const user = await users.findByEmail(input.email);
      const device = user ? deviceTokens.open(input.deviceToken, user.id, now) : undefined;
      // Keyed by the address typed, known or not, so that the throttle itself reveals nothing.
      const counts: Array<readonly [string, 'backoff' | 'cap']> =
        user && device
          ? [[throttleKey.loginAccountDevice(user.id, device.deviceId), 'backoff']]
          : [
              [throttleKey.loginAccountAddress(input.email, client.ip), 'backoff'],
              [throttleKey.loginAccount(input.email), 'cap'],
            ];
      const account = await throttle.reserveLogins(counts, now);
      if (!account.allowed) {
        await throttle.release(addressKey);
        await failed(user?.id ?? null, 'throttled', client);
        refuse(account);
      }

      // An unknown address costs the same bcrypt work and gets the same answer as a wrong password.
      // So does an account without a password (its way in is a passkey).
      const valid = user?.password_hash
        ? await hasher.verify(input.password, user.password_hash)
        : await hasher.verifyNothing(input.password);
      if (!user || !valid) {
        await failed(user?.id ?? null, user ? 'bad_password' : 'unknown_email', client);
        throw new AppError('INVALID_CREDENTIALS');
      }
      const login: MfaLoginCounts = {
        counts: counts.map(([key, mode]) => [key, mode]),
        address: addressKey,
        account: throttleKey.loginAccount(input.email),
        deviceId: device?.deviceId ?? null,
      };
      // Said only to whoever knows the password: to anyone else a disabled account looks like any other.
      if (user.disabled_at !== null) {
        await succeeded(login);
        await failed(user.id, 'disabled', client);
        throw new AppError('ACCOUNT_DISABLED');
      }
      // The password alone is not enough. Its attempt is given back, but the runs of failures go
      // on: each code is counted in them (and per address) before it is checked, and only a right
      // code ends them, so guessing codes behind a known password backs off like guessing passwords.
      const factors = await mfa.factors(user.id);
      if (factors.length > 0) {
        if (account.allowed) await account.giveBack();
        await throttle.release(addressKey);
        return { mfaRequired: true, ...(await mfa.startChallenge(user.id, login, factors)) };
      }
      await succeeded(login);
      return startSession(user, client, login, PASSWORD_METHODS, user.password_hash ?? undefined);
    },

    /**
     * Completes a login that asked for a second factor: the pending sign-in's token (single use,
     * 5 minutes, 5 codes) with a code of the authenticator app or a recovery code. Each code is
     * counted before it is checked, by the token and by the login's own back-off.
     */
    async verifyMfa(input: VerifyMfaInput, client: ClientInfo): Promise<Session> {
      const now = clock.now();
      // Unknown tokens are counted per address; a known one gives its hit back at once.
      const tokenKey = throttleKey.mfaTokenAddress(client.ip);
      refuse(await throttle.hit(tokenKey, LIMITS.mfaTokensPerAddress, now));
      const challenge = await mfa.openChallenge(input.mfaToken);
      await throttle.release(tokenKey);
      const { login } = challenge;
      const user = await users.findById(challenge.user_id);
      if (!user) throw new AppError('MFA_TOKEN_INVALID');
      // A malformed code is no guess: refused before it costs an attempt.
      const factor: SecondFactorInput | undefined = input.passkey === undefined ? mfa.secondFactorOf(input) : undefined;
      const presented = input.passkey === undefined ? undefined : passkeys.assertionOf(input.passkey);
      const perAddress = await throttle.hit(login.address, LIMITS.loginFailuresPerAddress, now);
      if (!perAddress.allowed) {
        await mfa.failed(user.id, 'login', { client });
        refuse(perAddress);
      }
      const account = await throttle.reserveLogins(login.counts, now);
      if (!account.allowed) {
        await throttle.release(login.address);
        refuse(account);
      }
      await mfa.takeAttempt(challenge);
      let session: Session;
      try {
        // A passkey's assertion is checked first (its challenge, bound to this pending sign-in, is
        // used up by the check); its use is recorded with the session.
        const assertion: VerifiedAssertion | undefined =
          presented === undefined
            ? undefined
            : await passkeys.verifyAssertion(
                presented,
                { purpose: 'second_factor', mfaChallengeId: challenge.id, userId: user.id },
                client,
              );
        // The first factor the pending sign-in proved (the password, or an external identity), then this one.
        const proof: AuthProof = { methods: [challenge.first_factor, assertion ? 'hwk' : 'otp', 'mfa'] };
        session = await startSession(user, client, login, proof, undefined, async (trx, sessionId) => {
          // A wrong code writes nothing; a right one uses the token too, or (another request used
          // it first) rolls back with it.
          if (assertion) await passkeys.use(trx, assertion, { client, sessionId });
          else if (factor === undefined || (await mfa.useSecondFactor(trx, user, factor, { client })) === undefined)
            throw new AppError('MFA_CODE_INVALID');
          await mfa.useChallenge(trx, challenge);
        });
      } catch (error) {
        if (error instanceof AppError && (error.appCode === 'MFA_CODE_INVALID' || error.appCode === 'PASSKEY_INVALID'))
          await mfa.failed(user.id, 'login', { client });
        throw error;
      }
      await succeeded(login);
      mailQueued();
      return session;
    },

    /**
     * Signs in the account of an external identity (auth.exchangeCode, after the provider's
     * callback): a session with `amr` ["fed"], or `mfaRequired` for an account with a second
     * factor, as a password login answers. A disabled account is refused.
     */
    async signInFederated(user: UserRow, client: ClientInfo, provider: string): Promise<Session | MfaRequired> {
      // A second factor's codes after it count as a password login's do: per (account, address)
      // with its back-off, and per account with the cap.
      const login: MfaLoginCounts = {
        counts: [
          [throttleKey.loginAccountAddress(user.email, client.ip), 'backoff'],
          [throttleKey.loginAccount(user.email), 'cap'],
        ],
        address: throttleKey.loginAddress(client.ip),
        account: throttleKey.loginAccount(user.email),
        deviceId: null,
      };
      if (user.disabled_at !== null) {
        await audit.record(db, { type: 'login.failed', userId: user.id, client, details: { reason: 'disabled', provider } });
        throw new AppError('ACCOUNT_DISABLED');
      }
      const factors = await mfa.factors(user.id);
      if (factors.length > 0) return { mfaRequired: true, ...(await mfa.startChallenge(user.id, login, factors, 'fed')) };
      return startSession(user, client, login, FEDERATED_METHODS, undefined, undefined, provider);
    },

    /**
     * Signs in with a passkey alone (auth.passkeys.authenticate): the assertion answers the
     * challenge of authenticationOptions. Counted per address like a login before it is checked,
     * and given back when it passes. A disabled account is said so only to its passkey's holder.
     */
    async signInWithPasskey(input: { challengeId: string; response: unknown }, client: ClientInfo): Promise<Session> {
      // A malformed answer guesses nothing: refused before it is counted.
      const presented = passkeys.assertionOf(input.response);
      const addressKey = await takeAddressAttempt(client, clock.now());
      let assertion: VerifiedAssertion;
      try {
        assertion = await passkeys.verifyAssertion(presented, { purpose: 'sign_in', challengeId: input.challengeId }, client);
      } catch (error) {
        if (error instanceof AppError && (error.appCode === 'PASSKEY_INVALID' || error.appCode === 'CHALLENGE_EXPIRED'))
          await failed(await passkeys.ownerOf(presented), 'passkey_invalid', client);
        throw error;
      }
      const { user } = assertion;
      const login: MfaLoginCounts = { counts: [], address: addressKey, account: throttleKey.loginAccount(user.email), deviceId: null };
      if (user.disabled_at !== null) {
        await throttle.release(addressKey);
        await failed(user.id, 'disabled', client);
        throw new AppError('ACCOUNT_DISABLED');
      }
      const session = await startSession(user, client, login, PASSKEY_METHODS, undefined, (trx, sessionId) =>
        passkeys.use(trx, assertion, { client, sessionId }),
      );
      await succeeded(login);
      return session;
    },
  };
}

export type SignInService = ReturnType<typeof createSignInService>;
