/**
 * Passkeys (WebAuthn, on @simplewebauthn/server): registering one, listing, renaming and removing
 * them, and the assertions that sign in with one alone, confirm a password login as its second
 * factor, or re-authenticate. Every ceremony answers a challenge of its own: 32 random bytes kept
 * as a digest, bound to whoever must answer it, used up by the first answer, pass or fail.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { PasskeyChallengeRow, PasskeyPurpose, PasskeyRow, UserRow } from '../../db/schema.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { digestOf, newOpaqueToken } from '../../lib/opaque-token.js';
import type { AuditService } from '../audit/audit.service.js';
import type { Authenticated, ClientInfo, SessionService } from '../session/session.service.js';
import { LIMITS, throttleKey } from '../throttle/throttle.policy.js';
import type { Throttle } from '../throttle/throttle.service.js';
import type { UserService } from '../user/user.service.js';
import type { MfaService, SecondFactorNotifier } from './mfa.service.js';
import { creationOptions, PASSKEY_ALGORITHMS, PASSKEY_CHALLENGE_TTL_SECONDS, requestOptions } from './passkey.options.js';
import {
  consumePasskeyChallenge,
  counterOf,
  countPasskeys,
  deletePasskey,
  ensureUserHandle,
  findPasskey,
  findPasskeyByCredential,
  findPasskeys,
  insertPasskey,
  insertPasskeyChallenge,
  renamePasskey,
  usePasskey,
} from './passkey.repository.js';
import { type AuthenticationOptionsInput, authenticationResponseSchema, registrationResponseSchema } from './passkey.schemas.js';

export { PASSKEY_CHALLENGE_TTL_SECONDS } from './passkey.options.js';
export { countPasskeys, deleteExpiredPasskeyChallenges } from './passkey.repository.js';

/** Passkeys one account may hold (each is listed in every registration's excludeCredentials). */
export const MAX_PASSKEYS_PER_USER = 20;
const DEFAULT_NAME = 'Passkey';

export type PasskeyDeviceType = 'singleDevice' | 'multiDevice';

/** A passkey as its owner sees it (no key material). */
export interface Passkey {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** Whether the authenticator says the key is backed up (synced) now. */
  backedUp: boolean;
  /** multiDevice: backup-eligible (a synced passkey); singleDevice: bound to one authenticator. */
  deviceType: PasskeyDeviceType;
}

declare const checkedShape: unique symbol;
/** A browser's assertion in its checked shape (only `assertionOf` makes one). */
export type PasskeyAssertion = AuthenticationResponseJSON & { readonly [checkedShape]: true };

/** What an assertion proved, before its use is recorded (VerifiedAssertion only comes from verifyAssertion). */
declare const verified: unique symbol;
export interface VerifiedAssertion {
  readonly [verified]: true;
  passkey: PasskeyRow;
  /** The credential's owner. */
  user: UserRow;
  newCounter: number;
  backedUp: boolean;
  purpose: Exclude<PasskeyPurpose, 'registration'>;
}

export interface PasskeyDeps {
  db: Db;
  clock: Clock;
  config: Pick<Readonly<Config>, 'webauthn'>;
  users: UserService;
  sessions: SessionService;
  throttle: Throttle;
  audit: AuditService;
  mfa: MfaService;
  notify: SecondFactorNotifier;
  mailQueued: () => void;
  /** How many other ways in the account has besides passkeys and a password (its external identities). */
  otherWaysIn: (trx: Db, userId: string) => Promise<number>;
}

const passkeyOf = (row: PasskeyRow): Passkey => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
  backedUp: row.backed_up,
  deviceType: row.backup_eligible ? 'multiDevice' : 'singleDevice',
});

/** The challenge a browser signed, read from its clientDataJSON (bounded by the schemas); undefined when unreadable. */
function signedChallenge(clientDataJSON: string): string | undefined {
  try {
    const data: unknown = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
    if (typeof data !== 'object' || data === null || !('challenge' in data)) return undefined;
    // A ceremony run inside another site's frame is not one of our pages' (the library lets a
    // cross-origin answer without topOrigin through): refused as malformed.
    if ('crossOrigin' in data && data.crossOrigin !== false) return undefined;
    const { challenge } = data;
    return typeof challenge === 'string' && /^[A-Za-z0-9_-]{43}$/.test(challenge) ? challenge : undefined;
  } catch {
    return undefined;
  }
}

const invalid = () => new AppError('PASSKEY_INVALID');

export function createPasskeyService(deps: PasskeyDeps) {
  const { db, clock, config, users, sessions, throttle, audit, mfa, notify, mailQueued, otherWaysIn } = deps;
  const { rpId, origins } = config.webauthn;

  /** A new challenge for a ceremony, bound to whoever must answer it. */
  async function newChallenge(
    purpose: PasskeyPurpose,
    binding: { userId: string | null; mfaChallengeId?: string; sessionId?: string },
  ): Promise<{ id: string; challenge: string }> {
    const now = clock.now();
    const { token, digest } = newOpaqueToken();
    const id = randomUUID();
    await insertPasskeyChallenge(db, {
      id,
      digest,
      purpose,
      ...binding,
      now,
      expiresAt: new Date(now.getTime() + PASSKEY_CHALLENGE_TTL_SECONDS * 1000),
    });
    return { id, challenge: token };
  }

  /**
   * Uses up the challenge the browser signed: CHALLENGE_EXPIRED when it is unknown, used or past
   * its time; PASSKEY_INVALID when it was made for another ceremony.
   */
  async function takeChallenge(clientDataJSON: string, purpose: PasskeyPurpose): Promise<{ row: PasskeyChallengeRow; challenge: string }> {
    const challenge = signedChallenge(clientDataJSON);
    if (challenge === undefined) throw invalid();
    const now = clock.now();
    const row = await consumePasskeyChallenge(db, digestOf(challenge), now);
    if (!row || row.expires_at.getTime() <= now.getTime()) throw new AppError('CHALLENGE_EXPIRED');
    if (row.purpose !== purpose) throw invalid();
    return { row, challenge };
  }

  /** Counts a ceremony started from the client's address (each stores a challenge). */
  async function countCeremony(client: ClientInfo): Promise<void> {
    const verdict = await throttle.hit(throttleKey.passkeyChallengeAddress(client.ip), LIMITS.passkeyChallengesPerAddress, clock.now());
    if (!verdict.allowed) throw new AppError('RATE_LIMITED', { retryAfterSeconds: verdict.retryAfterSeconds });
  }

  const service = {
    /** The user's passkeys, oldest first. */
    async list(userId: string): Promise<Passkey[]> {
      return (await findPasskeys(db, userId)).map(passkeyOf);
    },

    /**
     * Options for registering a passkey: a discoverable credential with user verification, the
     * account's random handle as `user.id` (never its email or id), its passkeys excluded. Needs
     * a recent re-authentication (one that included the second factor, for an account with one).
     */
    async registrationOptions(auth: Authenticated, client: ClientInfo): Promise<PublicKeyCredentialCreationOptionsJSON> {
      await mfa.requireRecentProof(auth);
      await countCeremony(client);
      const user = await users.load(auth.userId);
      const handle = await ensureUserHandle(db, user.id, randomBytes(32).toString('base64url'));
      const existing = await findPasskeys(db, user.id);
      const { challenge } = await newChallenge('registration', { userId: user.id, sessionId: auth.sessionId });
      return creationOptions(config.webauthn, { handle, email: user.email, username: user.username }, existing, challenge);
    },

    /**
     * Verifies a new credential against the user's registration challenge and stores it. The
     * account's first second factor also gets recovery codes, returned this once.
     */
    async register(
      auth: Authenticated,
      input: { response: unknown; name?: string | undefined },
      client: ClientInfo,
    ): Promise<{ passkey: Passkey; recoveryCodes: string[] }> {
      await mfa.requireRecentProof(auth);
      const parsed = registrationResponseSchema.safeParse(input.response);
      if (!parsed.success) throw invalid();
      const response = parsed.data as RegistrationResponseJSON;
      const { row, challenge } = await takeChallenge(response.response.clientDataJSON, 'registration');
      if (row.user_id !== auth.userId || row.session_id !== auth.sessionId) throw invalid();
      let info: Awaited<ReturnType<typeof verifyRegistrationResponse>>['registrationInfo'];
      try {
        const result = await verifyRegistrationResponse({
          response,
          expectedChallenge: challenge,
          expectedOrigin: [...origins],
          expectedRPID: rpId,
          requireUserVerification: true,
          supportedAlgorithmIDs: PASSKEY_ALGORITHMS,
        });
        info = result.verified ? result.registrationInfo : undefined;
      } catch {
        info = undefined;
      }
      if (!info?.userVerified) throw invalid();
      const { credential } = info;
      // WebAuthn caps a credential id at 1023 bytes; a longer one (from inside the attestation object) is no credential.
      if (Buffer.from(credential.id, 'base64url').length > 1023) throw invalid();
      const now = clock.now();
      const answer = await db.transaction().execute(async (trx) => {
        const user = await users.lock(auth.userId, trx);
        if (!user) throw invalid();
        if ((await countPasskeys(trx, user.id)) >= MAX_PASSKEYS_PER_USER)
          throw new AppError('VALIDATION_FAILED', { fields: { response: [`at most ${MAX_PASSKEYS_PER_USER} passkeys per account`] } });
        const stored = await insertPasskey(trx, {
          id: randomUUID(),
          user_id: user.id,
          credential_id: credential.id,
          public_key: Buffer.from(credential.publicKey).toString('base64url'),
          counter: credential.counter,
          transports: (credential.transports ?? []).join(' '),
          aaguid: info.aaguid,
          backup_eligible: info.credentialDeviceType === 'multiDevice',
          backed_up: info.credentialBackedUp,
          name: input.name ?? DEFAULT_NAME,
          created_at: now,
        });
        // Registered already, to this account or another: one key, one owner.
        if (!stored) throw invalid();
        // The account's first second factor: with it, recovery codes (a lost passkey must not lock the owner out).
        const recoveryCodes = await mfa.issueRecoveryCodes(trx, user.id, now);
        await audit.record(trx, {
          type: 'passkey.added',
          userId: user.id,
          sessionId: auth.sessionId,
          client,
          details: { passkeyId: stored.id, aaguid: stored.aaguid, deviceType: passkeyOf(stored).deviceType },
        });
        await notify(trx, user, 'passkey_added', now);
        return { passkey: passkeyOf(stored), recoveryCodes };
      });
      mailQueued();
      return answer;
    },

    async rename(userId: string, input: { id: string; name: string }): Promise<Passkey> {
      const row = await renamePasskey(db, userId, input.id, input.name);
      if (!row) throw new AppError('PASSKEY_NOT_FOUND');
      return passkeyOf(row);
    },

    /**
     * Removes a passkey. Needs a recent re-authentication; refused with LAST_SIGN_IN_METHOD when
     * the account would be left with no way in (no password, no other passkey, no external identity). The last
     * second factor takes the recovery codes with it.
     */
    async remove(auth: Authenticated, id: string, client: ClientInfo): Promise<void> {
      await mfa.requireRecentProof(auth);
      const now = clock.now();
      await db.transaction().execute(async (trx) => {
        const user = await users.lock(auth.userId, trx);
        const row = user ? await findPasskey(trx, user.id, id) : undefined;
        if (!user || !row) throw new AppError('PASSKEY_NOT_FOUND');
        if (user.password_hash === null && (await countPasskeys(trx, user.id)) <= 1 && (await otherWaysIn(trx, user.id)) === 0)
          throw new AppError('LAST_SIGN_IN_METHOD');
        await deletePasskey(trx, user.id, row.id);
        await mfa.dropRecoveryCodesWithoutFactor(trx, user.id, now);
        await audit.record(trx, {
          type: 'passkey.removed',
          userId: user.id,
          sessionId: auth.sessionId,
          client,
          details: { passkeyId: row.id },
        });
        await notify(trx, user, 'passkey_removed', now);
      });
      mailQueued();
    },

    /**
     * Options for an assertion, with the id of its challenge. Without input: anyone's passkey
     * (usernameless, conditional UI). With an email: the same answer whether or not it is an
     * account (no credentials listed); the challenge only accepts that account's passkeys. With an
     * mfaToken: the pending sign-in's user's passkeys, as its second factor. With reauthenticate:
     * the signed-in user's (the access token comes in `authorization`).
     */
    async authenticationOptions(
      input: AuthenticationOptionsInput,
      request: ClientInfo & { authorization: string | undefined },
    ): Promise<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON }> {
      let purpose: Exclude<PasskeyPurpose, 'registration'> = 'sign_in';
      let binding: { userId: string | null; mfaChallengeId?: string; sessionId?: string } = { userId: null };
      let allow: PasskeyRow[] = [];
      // Counted first: unknown mfaTokens and signed-out callers cost their attempt too.
      await countCeremony(request);
      // Signed in and naming no one: bound to the caller, for auth.reauthenticate (issue 18, item 5).
      const signedIn =
        (input === undefined || Object.keys(input).length === 0) && request.authorization !== undefined
          ? await sessions.authenticate(request.authorization).catch(() => undefined)
          : undefined;
      if (signedIn || (input && 'reauthenticate' in input)) {
        const auth = signedIn ?? (await sessions.authenticate(request.authorization));
        purpose = 'reauthentication';
        binding = { userId: auth.userId, sessionId: auth.sessionId };
        allow = await findPasskeys(db, auth.userId);
      } else if (input && 'mfaToken' in input) {
        const pending = await mfa.openChallenge(input.mfaToken);
        purpose = 'second_factor';
        binding = { userId: pending.user_id, mfaChallengeId: pending.id };
        allow = await findPasskeys(db, pending.user_id);
      } else if (input && 'email' in input) {
        const user = await users.findByEmail(input.email);
        // An address no account has is bound to an id no account has: its answers fail like a wrong key.
        binding = { userId: user?.id ?? randomUUID() };
      }
      const { id, challenge } = await newChallenge(purpose, binding);
      return { challengeId: id, options: await requestOptions(config.webauthn, allow, challenge) };
    },

    /**
     * Checks an assertion for a ceremony: its challenge (used up first, pass or fail), the
     * credential and its owner against what the challenge was bound to, the signature, user
     * verification (required, whatever the browser was told), the signature count (a count that
     * does not go up is recorded as a suspected clone and refused) and the backup eligibility
     * (fixed for a credential). Writes nothing but the challenge: the use is recorded by `use`, in
     * the transaction of what the assertion grants.
     */
    /**
     * The assertion in a request, in its checked shape (only this makes one): PASSKEY_INVALID when
     * it is malformed. Callers read it before they count an attempt: a malformed answer guesses nothing.
     */
    assertionOf(response: unknown): PasskeyAssertion {
      const parsed = authenticationResponseSchema.safeParse(response);
      // Client data without a challenge of ours is as malformed as a missing field.
      if (!parsed.success || signedChallenge(parsed.data.response.clientDataJSON) === undefined) throw invalid();
      return parsed.data as AuthenticationResponseJSON as PasskeyAssertion;
    },

    /** The account whose credential an assertion names, if any (to record a refused one against it). */
    async ownerOf(assertion: PasskeyAssertion): Promise<string | null> {
      return (await findPasskeyByCredential(db, assertion.id))?.user_id ?? null;
    },

    async verifyAssertion(
      response: PasskeyAssertion,
      expected: {
        purpose: Exclude<PasskeyPurpose, 'registration'>;
        challengeId?: string;
        userId?: string;
        mfaChallengeId?: string;
        sessionId?: string;
      },
      client: ClientInfo,
    ): Promise<VerifiedAssertion> {
      const assertion: AuthenticationResponseJSON = response;
      const { row, challenge } = await takeChallenge(assertion.response.clientDataJSON, expected.purpose);
      if (expected.challengeId !== undefined && row.id !== expected.challengeId) throw new AppError('CHALLENGE_EXPIRED');
      if (expected.mfaChallengeId !== undefined && row.mfa_challenge_id !== expected.mfaChallengeId) throw invalid();
      if (expected.sessionId !== undefined && row.session_id !== expected.sessionId) throw invalid();
      const passkey = await findPasskeyByCredential(db, assertion.id);
      if (!passkey) throw invalid();
      if (row.user_id !== null && passkey.user_id !== row.user_id) throw invalid();
      if (expected.userId !== undefined && passkey.user_id !== expected.userId) throw invalid();
      const owner = await users.findById(passkey.user_id);
      if (!owner) throw invalid();
      if (assertion.response.userHandle !== undefined && owner.passkey_user_handle !== assertion.response.userHandle) throw invalid();
      let info: Awaited<ReturnType<typeof verifyAuthenticationResponse>>['authenticationInfo'] | undefined;
      try {
        const result = await verifyAuthenticationResponse({
          response: assertion,
          expectedChallenge: challenge,
          expectedOrigin: [...origins],
          expectedRPID: rpId,
          // The count is judged below, where a refusal is recorded: the library only throws.
          credential: { id: passkey.credential_id, publicKey: Buffer.from(passkey.public_key, 'base64url'), counter: 0 },
          requireUserVerification: true,
        });
        info = result.verified ? result.authenticationInfo : undefined;
      } catch {
        info = undefined;
      }
      if (!info?.userVerified) throw invalid();
      const storedCounter = counterOf(passkey);
      if ((storedCounter > 0 || info.newCounter > 0) && info.newCounter <= storedCounter) {
        await audit.record(db, {
          type: 'passkey.clone_suspected',
          userId: passkey.user_id,
          client,
          details: { passkeyId: passkey.id, storedCounter, presentedCounter: info.newCounter },
        });
        throw invalid();
      }
      if ((info.credentialDeviceType === 'multiDevice') !== passkey.backup_eligible) throw invalid();
      return {
        passkey,
        user: owner,
        newCounter: info.newCounter,
        backedUp: info.credentialBackedUp,
        purpose: expected.purpose,
      } as VerifiedAssertion;
    },

    /**
     * Records a verified assertion's use in the caller's transaction: the new signature count
     * (only if still above the stored one: two assertions of one count cannot both pass) and the
     * event. PASSKEY_INVALID when another use got there first.
     */
    async use(trx: Db, assertion: VerifiedAssertion, context: { client: ClientInfo; sessionId?: string | undefined }): Promise<void> {
      const used = await usePasskey(trx, {
        id: assertion.passkey.id,
        storedCounter: counterOf(assertion.passkey),
        newCounter: assertion.newCounter,
        backedUp: assertion.backedUp,
        now: clock.now(),
      });
      if (!used) {
        // Another assertion of this count, or a later one, was used meanwhile: a copy of the key
        // answering beside the original. Recorded outside the transaction, which this refusal ends.
        await audit.record(db, {
          type: 'passkey.clone_suspected',
          userId: assertion.user.id,
          client: context.client,
          details: { passkeyId: assertion.passkey.id, storedCounter: counterOf(assertion.passkey), presentedCounter: assertion.newCounter },
        });
        throw invalid();
      }
      await audit.record(trx, {
        type: 'passkey.used',
        userId: assertion.user.id,
        sessionId: context.sessionId ?? null,
        client: context.client,
        details: { passkeyId: assertion.passkey.id, as: assertion.purpose },
      });
    },
  };
  return service;
}

export type PasskeyService = ReturnType<typeof createPasskeyService>;
