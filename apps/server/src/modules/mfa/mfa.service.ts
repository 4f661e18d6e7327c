/**
 * Second factors: an authenticator app (TOTP) with recovery codes. Setting one up, listing and
 * removing it, checking a code (atomically: a time step or a recovery code passes once), the
 * pending sign-ins that wait for a code, and the rule that a recent proof of identity for an
 * account with a second factor must have included it.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { AuthMethod } from '@latchkey/protocol';
import type { Db } from '../../db/database.js';
import type { MfaChallengeRow, MfaFactorRow, MfaLoginCounts, UserRow } from '../../db/schema.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { digestOf, newOpaqueToken } from '../../lib/opaque-token.js';
import type { SecretBox } from '../../lib/secret-box.js';
import {
  base32,
  matchTotp,
  newRecoveryCode,
  newTotpSecret,
  otpauthUri,
  RECOVERY_CODE_COUNT,
  recoveryCodeOf,
  totpCodeOf,
} from '../../lib/totp.js';
import type { AuditService } from '../audit/audit.service.js';
import type { Authenticated, ClientInfo, SessionService } from '../session/session.service.js';
import { LIMITS, throttleKey } from '../throttle/throttle.policy.js';
import type { Throttle } from '../throttle/throttle.service.js';
import type { UserService } from '../user/user.service.js';
import {
  countRecoveryCodes,
  deleteFactor,
  deleteStalePendingFactors,
  findChallenge,
  findFactor,
  findFactors,
  findRecoveryKey,
  hasActiveFactor,
  insertChallenge,
  insertFactor,
  replaceRecoveryCodes,
  replaceSealed,
  sealedPage,
  stepOf,
  takeChallengeAttempt,
  useChallenge,
  useChallenges,
  useFactorStep,
  useRecoveryCode,
} from './mfa.repository.js';
import { findPasskeys } from './passkey.repository.js';

export { deleteExpiredChallenges } from './mfa.repository.js';

/** The issuer authenticator apps show beside the account. */
export const TOTP_ISSUER = 'Latchkey';
/** How long a set-up may stay unconfirmed before another may start. */
export const PENDING_FACTOR_TTL_SECONDS = 10 * 60;
/** A pending sign-in (mfaToken): its lifetime, and the wrong codes that end it. */
export const MFA_TOKEN_TTL_SECONDS = 5 * 60;
export const MFA_TOKEN_MAX_ATTEMPTS = 5;

/** A kind of second factor (a literal type: the client's declarations must not need kysely's). */
export type FactorType = 'totp' | 'passkey';

export interface Factor {
  id: string;
  type: FactorType;
  createdAt: Date;
  lastUsedAt: Date | null;
}

declare const checkedShape: unique symbol;
/**
 * A second factor as presented, in its checked form (only `secondFactorOf` makes one): six
 * digits of the authenticator app, or a recovery code in its stored form.
 */
export type SecondFactorInput = ({ code: string; recoveryCode?: undefined } | { recoveryCode: string; code?: undefined }) & {
  readonly [checkedShape]: true;
};

/** Which factor passed. */
export type SecondFactorKind = 'totp' | 'recovery_code';

/** Methods (RFC 8176) that are a second factor: a one-time code, or a key held in hardware. */
const SECOND_FACTOR_METHODS: readonly AuthMethod[] = ['otp', 'hwk'];

const includesSecondFactor = (auth: Pick<Authenticated, 'authMethods'>) =>
  auth.authMethods.some((method) => SECOND_FACTOR_METHODS.includes(method));

/** Sends a second-factor notice to the account's own address, inside the caller's transaction (app.ts wires the mail). */
export type SecondFactorNotifier = (
  trx: Db,
  user: UserRow,
  kind: 'mfa_enabled' | 'mfa_removed' | 'recovery_code_used' | 'recovery_codes_regenerated' | 'passkey_added' | 'passkey_removed',
  now: Date,
  vars?: { remaining?: number },
) => Promise<void>;

export interface MfaDeps {
  db: Db;
  clock: Clock;
  users: UserService;
  sessions: SessionService;
  throttle: Throttle;
  audit: AuditService;
  /** Seals TOTP secrets and recovery keys at rest (key: HKDF of JWT_SECRET, label totp-secret). */
  secretBox: SecretBox;
  notify: SecondFactorNotifier;
  mailQueued: () => void;
}

export function createMfaService(deps: MfaDeps) {
  const { db, clock, users, sessions, throttle, audit, secretBox, notify, mailQueued } = deps;

  /** The sealed secret is bound to its factor and user: copied to another row, it does not open. */
  const secretContext = (factor: Pick<MfaFactorRow, 'id' | 'user_id'>) => `mfa-factor:${factor.id}:${factor.user_id}`;

  /** The account's recovery key is sealed to the account. */
  const recoveryKeyContext = (userId: string) => `mfa-recovery-key:${userId}`;
  /** What is stored of a recovery code: its HMAC-SHA256 under the account's recovery key. */
  const recoveryDigest = (key: Buffer, code: string) => createHmac('sha256', key).update(code, 'utf8').digest('base64url');

  const liveFactor = (factor: MfaFactorRow, now: Date) =>
    factor.status === 'active' || now.getTime() - factor.created_at.getTime() < PENDING_FACTOR_TTL_SECONDS * 1000;

  /** A fresh set of recovery codes: the codes to show once; a new key (sealed) and their digests to store. */
  function newRecoveryCodes(userId: string): { codes: string[]; set: { keySealed: string; digests: string[] } } {
    const key = randomBytes(32);
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const keySealed = secretBox.seal(key, recoveryKeyContext(userId));
    return { codes, set: { keySealed, digests: codes.map((code) => recoveryDigest(key, code)) } };
  }

  /**
   * Checks a TOTP code against a factor and, when it matches a step later than the last one used,
   * records that step in the same statement that checks it (useFactorStep). False otherwise.
   */
  async function acceptTotp(trx: Db, factor: MfaFactorRow, code: string, now: Date, activate = false): Promise<boolean> {
    const opened = secretBox.openDetailed(factor.secret_sealed, secretContext(factor));
    if (!opened) return false;
    const step = await matchTotp(opened.plaintext, code, now, stepOf(factor));
    if (step === undefined) return false;
    // Sealed under JWT_SECRET_PREVIOUS: sealed again under the current secret with this use, so
    // that the factor outlives the end of the rotation (deployment.md's runbook).
    const resealed = opened.current ? undefined : secretBox.seal(opened.plaintext, secretContext(factor));
    return useFactorStep(trx, { factorId: factor.id, step, now, status: factor.status, activate, resealed });
  }

  /** The user's active factor of this type, if any. */
  async function activeFactor(userId: string, trx: Db = db): Promise<MfaFactorRow | undefined> {
    return (await findFactors(trx, userId)).find((factor) => factor.status === 'active');
  }

  const service = {
    /**
     * What a change that would hand over the account needs: a proof of identity no older than
     * REAUTH_MAX_AGE and, for an account with a second factor, one that included it. A password
     * alone then is not enough.
     */
    async requireRecentProof(auth: Pick<Authenticated, 'userId' | 'authTime' | 'authMethods'>): Promise<void> {
      sessions.requireRecentProof(auth);
      if (!includesSecondFactor(auth) && (await hasActiveFactor(db, auth.userId))) throw new AppError('REAUTHENTICATION_REQUIRED');
    },

    /** The same rule for an account known to have a second factor: the recent proof must have included it. */
    requireRecentFactorProof(auth: Pick<Authenticated, 'authTime' | 'authMethods'>): void {
      sessions.requireRecentProof(auth);
      if (!includesSecondFactor(auth)) throw new AppError('REAUTHENTICATION_REQUIRED');
    },

    /** Whether the account has an active second factor (a login then asks for it). */
    hasSecondFactor: (userId: string, trx: Db = db): Promise<boolean> => hasActiveFactor(trx, userId),

    /** The user's active factors: the authenticator app, then the passkeys, oldest first. */
    async factors(userId: string): Promise<Factor[]> {
      const [rows, passkeys] = await Promise.all([findFactors(db, userId), findPasskeys(db, userId)]);
      return [
        ...rows
          .filter((row) => row.status === 'active')
          .map((row) => ({ id: row.id, type: row.type, createdAt: row.created_at, lastUsedAt: row.last_used_at })),
        ...passkeys.map((row) => ({ id: row.id, type: 'passkey' as const, createdAt: row.created_at, lastUsedAt: row.last_used_at })),
      ];
    },

    /** A first set of recovery codes for an account getting its first second factor, in the caller's transaction: the codes, shown once. */
    async issueRecoveryCodes(trx: Db, userId: string, now: Date): Promise<string[]> {
      if ((await countRecoveryCodes(trx, userId)) > 0) return [];
      const fresh = newRecoveryCodes(userId);
      await replaceRecoveryCodes(trx, userId, fresh.set, now);
      return fresh.codes;
    },

    /** After a factor was removed, in the same transaction: without a second factor left, the recovery codes go too. */
    async dropRecoveryCodesWithoutFactor(trx: Db, userId: string, now: Date): Promise<void> {
      if (!(await hasActiveFactor(trx, userId))) await replaceRecoveryCodes(trx, userId, undefined, now);
    },

    /**
     * Starts setting up an authenticator app: a pending factor with a new secret, shown this once.
     * Needs a recent re-authentication. FACTOR_EXISTS while another is active or being set up.
     */
    async enrollTotp(auth: Authenticated): Promise<{ factorId: string; secret: string; otpauthUri: string }> {
      await service.requireRecentProof(auth);
      const now = clock.now();
      const user = await users.load(auth.userId);
      const secret = newTotpSecret();
      const factorId = randomUUID();
      await db.transaction().execute(async (trx) => {
        await users.lock(user.id, trx);
        await deleteStalePendingFactors(trx, user.id, new Date(now.getTime() - PENDING_FACTOR_TTL_SECONDS * 1000));
        const existing = await findFactors(trx, user.id);
        if (existing.some((factor) => factor.type === 'totp' && liveFactor(factor, now))) throw new AppError('FACTOR_EXISTS');
        const sealedSecret = secretBox.seal(secret, secretContext({ id: factorId, user_id: user.id }));
        await insertFactor(trx, { id: factorId, userId: user.id, sealedSecret, now });
      });
      return { factorId, secret: base32(secret), otpauthUri: otpauthUri(secret, TOTP_ISSUER, user.email) };
    },

    /**
     * Activates a pending factor with a code from the app. The account's first factor also gets its
     * recovery codes, returned this once (empty when the account already has codes).
     */
    async confirmTotp(
      auth: Authenticated,
      input: { factorId: string; code: string },
      client: ClientInfo,
    ): Promise<{ recoveryCodes: string[] }> {
      const now = clock.now();
      const factor = await findFactor(db, auth.userId, input.factorId);
      if (factor?.status !== 'pending' || !liveFactor(factor, now)) throw new AppError('FACTOR_NOT_FOUND');
      const code = totpCodeOf(input.code);
      if (code === undefined) throw new AppError('MFA_CODE_INVALID', { fields: { code: ['is invalid'] } });
      const key = throttleKey.secondFactorCheck(auth.userId);
      const verdict = await throttle.hit(key, LIMITS.secondFactorChecksPerAccount, now);
      if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
      const recoveryCodes = await db.transaction().execute(async (trx) => {
        const user = await users.load(auth.userId, trx);
        if (!(await acceptTotp(trx, factor, code, now, true))) return undefined;
        const codes = await service.issueRecoveryCodes(trx, user.id, now);
        await audit.record(trx, {
          type: 'mfa.enrolled',
          userId: user.id,
          sessionId: auth.sessionId,
          client,
          details: { factorId: factor.id, factorType: factor.type },
        });
        await notify(trx, user, 'mfa_enabled', now);
        return codes;
      });
      if (!recoveryCodes) {
        await audit.record(db, {
          type: 'mfa.failed',
          userId: auth.userId,
          sessionId: auth.sessionId,
          client,
          details: { during: 'enrollment' },
        });
        throw new AppError('MFA_CODE_INVALID', { fields: { code: ['is invalid'] } });
      }
      await throttle.release(key);
      mailQueued();
      return { recoveryCodes };
    },

    /**
     * Removes a factor (active or being set up). The last active factor takes the recovery codes
     * with it. Needs a recent re-authentication that included the second factor.
     */
    async remove(auth: Authenticated, factorId: string, client: ClientInfo): Promise<void> {
      await service.requireRecentProof(auth);
      const now = clock.now();
      const removed = await db.transaction().execute(async (trx) => {
        const user = await users.lock(auth.userId, trx);
        if (!user) return undefined;
        const row = await deleteFactor(trx, user.id, factorId);
        if (!row) return undefined;
        if (row.status === 'active') {
          await service.dropRecoveryCodesWithoutFactor(trx, user.id, now);
          await audit.record(trx, {
            type: 'mfa.removed',
            userId: user.id,
            sessionId: auth.sessionId,
            client,
            details: { factorId: row.id, factorType: row.type },
          });
          await notify(trx, user, 'mfa_removed', now);
        }
        return row;
      });
      if (!removed) throw new AppError('FACTOR_NOT_FOUND');
      if (removed.status === 'active') mailQueued();
    },

    /** Replaces every recovery code with 10 new ones, shown once. Needs a recent proof that included the second factor. */
    async regenerateRecoveryCodes(auth: Authenticated, client: ClientInfo): Promise<{ recoveryCodes: string[] }> {
      await service.requireRecentProof(auth);
      const now = clock.now();
      const codes = await db.transaction().execute(async (trx) => {
        const user = await users.lock(auth.userId, trx);
        if (!user || !(await hasActiveFactor(trx, user.id))) return undefined;
        const fresh = newRecoveryCodes(user.id);
        await replaceRecoveryCodes(trx, user.id, fresh.set, now);
        await audit.record(trx, {
          type: 'mfa.recovery_codes_regenerated',
          userId: user.id,
          sessionId: auth.sessionId,
          client,
          details: { count: fresh.codes.length },
        });
        await notify(trx, user, 'recovery_codes_regenerated', now);
        return fresh.codes;
      });
      if (!codes) throw new AppError('FACTOR_NOT_FOUND');
      mailQueued();
      return { recoveryCodes: codes };
    },

    /**
     * The second factor of an input holding `code` or `recoveryCode` (the schemas allow one), in
     * its checked form. MFA_CODE_INVALID when it is malformed: not six digits, not ten base32
     * characters. Nothing is counted for such an input: it guesses nothing.
     */
    secondFactorOf(input: { code?: string | undefined; recoveryCode?: string | undefined }): SecondFactorInput {
      if (input.code !== undefined) {
        const code = totpCodeOf(input.code);
        if (code === undefined) throw new AppError('MFA_CODE_INVALID', { fields: { code: ['is invalid'] } });
        return { code } as SecondFactorInput;
      }
      const recoveryCode = recoveryCodeOf(input.recoveryCode ?? '');
      if (recoveryCode === undefined) throw new AppError('MFA_CODE_INVALID', { fields: { recoveryCode: ['is invalid'] } });
      return { recoveryCode } as SecondFactorInput;
    },

    /**
     * Checks a second factor of the user inside the caller's transaction, using it up: a TOTP
     * step or a recovery code passes once. A used recovery code is recorded and its owner told.
     * Undefined for a wrong code (nothing is written then).
     */
    async useSecondFactor(
      trx: Db,
      user: UserRow,
      input: SecondFactorInput,
      context: { client: ClientInfo; sessionId?: string | undefined },
    ): Promise<SecondFactorKind | undefined> {
      const now = clock.now();
      if (input.code !== undefined) {
        const factor = await activeFactor(user.id, trx);
        if (!factor) return undefined;
        return (await acceptTotp(trx, factor, input.code, now)) ? 'totp' : undefined;
      }
      const keySealed = await findRecoveryKey(trx, user.id);
      const key = keySealed === undefined ? undefined : secretBox.openDetailed(keySealed, recoveryKeyContext(user.id));
      if (!key || !(await useRecoveryCode(trx, user.id, recoveryDigest(key.plaintext, input.recoveryCode), now))) return undefined;
      // Sealed under JWT_SECRET_PREVIOUS: sealed again under the current secret, as a factor's secret is.
      if (!key.current && keySealed !== undefined)
        await replaceSealed(trx, 'recovery_keys', user.id, keySealed, secretBox.seal(key.plaintext, recoveryKeyContext(user.id)));
      const remaining = await countRecoveryCodes(trx, user.id);
      await audit.record(trx, {
        type: 'mfa.recovery_code_used',
        userId: user.id,
        sessionId: context.sessionId ?? null,
        client: context.client,
        details: { remaining },
      });
      await notify(trx, user, 'recovery_code_used', now, { remaining });
      return 'recovery_code';
    },

    /** Records a wrong second factor (outside any transaction: there is no change to hold it). */
    async failed(userId: string, during: 'login' | 'reauthentication', context: { client: ClientInfo; sessionId?: string | undefined }) {
      await audit.record(db, {
        type: 'mfa.failed',
        userId,
        sessionId: context.sessionId ?? null,
        client: context.client,
        details: { during },
      });
    },

    /**
     * A pending sign-in for a user whose password was right: the opaque token that continues it
     * (stored as its digest), and the factors it may continue with.
     */
    async startChallenge(
      userId: string,
      login: MfaLoginCounts,
      active: readonly Factor[],
      /** What the sign-in proved so far: the password, or an external identity. */
      firstFactor: 'pwd' | 'fed' = 'pwd',
    ): Promise<{ mfaToken: string; factors: { id: string; type: FactorType }[] }> {
      const now = clock.now();
      const { token, digest } = newOpaqueToken();
      await insertChallenge(db, {
        id: randomUUID(),
        userId,
        digest,
        login,
        now,
        expiresAt: new Date(now.getTime() + MFA_TOKEN_TTL_SECONDS * 1000),
        firstFactor,
      });
      return { mfaToken: token, factors: active.map((factor) => ({ id: factor.id, type: factor.type })) };
    },

    /** The pending sign-in of this token: MFA_TOKEN_INVALID when unknown or used, MFA_TOKEN_EXPIRED past its time. */
    async openChallenge(mfaToken: string): Promise<MfaChallengeRow> {
      const row = await findChallenge(db, digestOf(mfaToken));
      if (!row || row.used_at !== null || row.attempts >= MFA_TOKEN_MAX_ATTEMPTS) throw new AppError('MFA_TOKEN_INVALID');
      if (row.expires_at.getTime() <= clock.now().getTime()) throw new AppError('MFA_TOKEN_EXPIRED');
      return row;
    },

    /** Takes one of the challenge's attempts before its code is checked (5 in all, counted atomically). */
    async takeAttempt(challenge: MfaChallengeRow): Promise<void> {
      const now = clock.now();
      if (await takeChallengeAttempt(db, challenge.id, now, MFA_TOKEN_MAX_ATTEMPTS)) return;
      throw new AppError(challenge.expires_at.getTime() <= now.getTime() ? 'MFA_TOKEN_EXPIRED' : 'MFA_TOKEN_INVALID');
    },

    /** Uses the challenge in the caller's transaction: MFA_TOKEN_INVALID when another request used it first. */
    async useChallenge(trx: Db, challenge: MfaChallengeRow): Promise<void> {
      if (!(await useChallenge(trx, challenge.id, clock.now()))) throw new AppError('MFA_TOKEN_INVALID');
    },

    /**
     * During a rotation of JWT_SECRET: seals again under the current secret every TOTP secret and
     * recovery key still sealed under the previous one, so that removing JWT_SECRET_PREVIOUS
     * ends no second factor. Idempotent, in pages; a value changed meanwhile is left to its use
     * (which seals it again itself). Returns how many were sealed again; none without a rotation.
     */
    async resealUnderCurrentSecret(): Promise<number> {
      if (!secretBox.rotating) return 0;
      let resealed = 0;
      for (const table of ['factors', 'recovery_keys'] as const) {
        let after: string | undefined;
        for (;;) {
          const page = await sealedPage(db, table, after, 500);
          for (const row of page) {
            const context = table === 'factors' ? secretContext({ id: row.id, user_id: row.userId }) : recoveryKeyContext(row.userId);
            const opened = secretBox.openDetailed(row.sealed, context);
            if (!opened || opened.current) continue;
            await replaceSealed(db, table, row.id, row.sealed, secretBox.seal(opened.plaintext, context));
            resealed += 1;
          }
          if (page.length < 500) break;
          after = page.at(-1)?.id;
        }
      }
      return resealed;
    },

    /** Ends the user's pending sign-ins (a password change or reset: the password they proved is gone). */
    async endPendingSignIns(trx: Db, userId: string): Promise<void> {
      await useChallenges(trx, userId, clock.now());
    },
  };
  return service;
}

export type MfaService = ReturnType<typeof createMfaService>;
