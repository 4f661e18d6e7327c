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

/** One of the user's passkeys, as `auth.passkeys.list` lists it. */
export type Passkey = RouterOutputs['auth']['passkeys']['list'][number];

/** What `passkeys.register()` resolves to: the new passkey, and recovery codes when it is the account's first second factor. */
export type PasskeyRegistration = RouterOutputs['auth']['passkeys']['register'];

/** `passkeys.register()`'s input: a name for the passkey (the server names it when none is given). */
export interface RegisterPasskeyInput {
  name?: string;
}

export interface SignInWithPasskeyInput {
  /** Offer only that account's passkeys; without it any passkey of this site may answer (usernameless). */
  email?: string;
  /**
   * Conditional UI: wait for the user to pick a passkey in the autofill of an
   * `<input autocomplete="username webauthn">` of the page, instead of opening a dialog now.
   */
  conditional?: boolean;
}

/** A login's second step with a passkey: the `mfaToken` of the `mfa-required` answer. */
export interface VerifyMfaWithPasskeyInput {
  mfaToken: string;
}

/** What `reauthenticateWithPasskey()` resolves to: the fresh access token (already stored) and its expiry. */
export type Reauthenticated = RouterOutputs['auth']['reauthenticate'];
/** What `reauthenticate()` takes: the password, an authenticator code or a recovery code (a passkey: `reauthenticateWithPasskey()`). */
export type ReauthenticateInput = Exclude<RouterInputs['auth']['reauthenticate'], { passkey: unknown }>;

/** An external sign-in provider the server is configured with, as `auth.providers` lists it (`{ id, name }`). */
export type Provider = RouterOutputs['auth']['providers'][number];

/** One of the user's linked external identities, as `auth.identities.list` lists it. */
export type Identity = RouterOutputs['auth']['identities']['list'][number];

/** `signInWith()`'s and `identities.link()`'s options. */
export interface SignInWithOptions {
  /**
   * Where the browser comes back to after the provider, with `#code=...` (or `#error=...`): a page
   * that calls `completeSignIn()`. Absolute, or relative to the current page; it must be allowed
   * by the server's ALLOWED_REDIRECTS. Default: the current page, without its fragment.
   */
  redirectTo?: string;
}

/** What `completeSignIn()` resolves to when the page's address carries no callback fragment: nothing was done. */
export interface NoSignInToComplete {
  status: 'none';
}

/** What `completeSignIn()` resolves to after a link flow (`identities.link`): the identity now linked to the signed-in user. */
export interface IdentityLinked {
  status: 'linked';
  identity: Identity;
}

/** What `completeSignIn()` resolves to: signed in, a second factor needed first, an identity linked, or nothing to complete. */
export type CompleteSignInResult = LoginResult | IdentityLinked | NoSignInToComplete;

/** What the client keeps between calls (and, with a persistent storage, between runs). */
export interface StoredSession extends Tokens {
  user: User | null;
}
