import type { AppRouter } from '@latchkey/server';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';

// Every shape comes from the server's router: the client declares none of its own.
export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type User = RouterOutputs['user']['me'];
export type Tokens = RouterOutputs['auth']['refresh'];

type LoginAnswer = RouterOutputs['auth']['login'];
/** The server's answer to a login whose password was right, for an account with a second factor. */
type MfaChallenge = Extract<LoginAnswer, { mfaRequired: true }>;

/** The server's answer to a sign-in that started a session: the user, its tokens and the device token. */
export type Session = Exclude<LoginAnswer, MfaChallenge>;

/** A sign-in that started a session (stored by the client): the server's answer, marked `signed-in`. */
export type SignedIn = { status: 'signed-in' } & Session;

/**
 * A login whose password was right, for an account with a second factor: nothing is stored yet.
 * Continue with `verifyMfa({ mfaToken, code })` (or `recoveryCode`) within 5 minutes.
 */
export type MfaRequired = { status: 'mfa-required' } & Omit<MfaChallenge, 'mfaRequired'>;

/** What `login()` resolves to: signed in, or a second factor is needed first. */
export type LoginResult = SignedIn | MfaRequired;

type VerifyMfaServerInput = RouterInputs['auth']['mfa']['verify'];
/** A login's second step: its `mfaToken` and either a code of the authenticator app or a recovery code. */
export type VerifyMfaInput =
  | (Pick<VerifyMfaServerInput, 'mfaToken'> & { code: NonNullable<VerifyMfaServerInput['code']>; recoveryCode?: never })
  | (Pick<VerifyMfaServerInput, 'mfaToken'> & { recoveryCode: NonNullable<VerifyMfaServerInput['recoveryCode']>; code?: never });

/** What the client keeps between calls (and, with a persistent storage, between runs). */
export interface StoredSession extends Tokens {
  user: User | null;
}
