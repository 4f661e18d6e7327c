// Type-checked under strict, with skipLibCheck off, in a project that installed only the tarballs.
import {
  type AuthClient,
  BrowserUnavailableError,
  type CompleteSignInResult,
  createAuthClient,
  ExternalSignInError,
  type Identity,
  type LoginResult,
  type MfaRequired,
  type Passkey,
  type Provider,
  type SignedIn,
  type User,
  WebAuthnUnavailableError,
} from '@latchkey/client';
import { fileStorage } from '@latchkey/client/node';
import { type Claims, createVerifier } from '@latchkey/verify';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;

const auth: AuthClient = createAuthClient({ url: 'http://localhost:3000', storage: fileStorage('.latchkey-session.json') });
type Me = Awaited<ReturnType<typeof auth.user.me.query>>;

// Not `any`: user.me returns the server's User, whose createdAt is a Date (superjson).
export type Checks = [Assert<Equal<Me, User>>, Assert<Equal<User['createdAt'], Date>>, Assert<Equal<User['bio'], string | null>>];

// login answers signed-in (with the user) or mfa-required (with the factors): the router's types, not `any`.
type Login = Awaited<ReturnType<typeof auth.login>>;
export type LoginChecks = [
  Assert<Equal<Login, LoginResult>>,
  Assert<Equal<Login['status'], 'signed-in' | 'mfa-required'>>,
  Assert<Equal<Extract<Login, { status: 'signed-in' }>['user'], User>>,
  Assert<Equal<MfaRequired['mfaToken'], string>>,
  Assert<Equal<MfaRequired['factors'][number], { id: string; type: 'totp' | 'passkey' }>>,
  Assert<Equal<Awaited<ReturnType<typeof auth.verifyMfa>>, SignedIn>>,
];

// Passkeys: the SDK's methods and the router's passkey procedures are typed in the project too
// (the router's WebAuthn JSON types come from @simplewebauthn/browser, a dependency of the SDK).
type Registered = Awaited<ReturnType<typeof auth.passkeys.register>>;
type Options = Awaited<ReturnType<typeof auth.auth.passkeys.authenticationOptions.mutate>>['options'];
export type PasskeyChecks = [
  Assert<Equal<Awaited<ReturnType<typeof auth.signInWithPasskey>>, SignedIn>>,
  Assert<Equal<Awaited<ReturnType<typeof auth.verifyMfaWithPasskey>>, SignedIn>>,
  Assert<Equal<Registered['passkey'], Passkey>>,
  Assert<Equal<Passkey['createdAt'], Date>>,
  Assert<Equal<Registered['recoveryCodes'], string[]>>,
  Assert<Equal<Options['challenge'], string>>,
  Assert<Equal<Awaited<ReturnType<typeof auth.reauthenticateWithPasskey>>['accessTokenExpiresAt'], Date>>,
];

export async function withPasskey(): Promise<User | null> {
  // @ts-expect-error a passkey sign-in takes no password
  await auth.signInWithPasskey({ email: 'a@example.com', password: 'secret' });
  try {
    return (await auth.signInWithPasskey({ conditional: true })).user;
  } catch (error) {
    if (error instanceof WebAuthnUnavailableError) return null;
    throw error;
  }
}

// Signing in with a provider: completeSignIn answers as login does, 'linked' after a link flow, or 'none'; identities are the router's.
type Completed = Awaited<ReturnType<typeof auth.completeSignIn>>;
export type ExternalSignInChecks = [
  Assert<Equal<Completed, CompleteSignInResult>>,
  Assert<Equal<Completed['status'], 'signed-in' | 'mfa-required' | 'linked' | 'none'>>,
  Assert<Equal<Extract<Completed, { status: 'linked' }>['identity'], Identity>>,
  Assert<Equal<Extract<Completed, { status: 'signed-in' }>['user'], User>>,
  Assert<Equal<Awaited<ReturnType<typeof auth.identities.list>>, Identity[]>>,
  Assert<Equal<Identity['lastUsedAt'], Date | null>>,
  Assert<Equal<Awaited<ReturnType<typeof auth.auth.providers.query>>, Provider[]>>,
  Assert<Equal<Provider, { id: string; name: string }>>,
  Assert<Equal<ExternalSignInError['appCode'], string>>,
];

export async function withProvider(): Promise<User | null> {
  // @ts-expect-error the provider is an id, and the options are an object
  await auth.signInWith({ provider: 'google' });
  try {
    const result = await auth.completeSignIn();
    if (result.status === 'none') {
      await auth.signInWith('google', { redirectTo: '/signed-in' });
      return null;
    }
    // @ts-expect-error there is no user before the status says signed-in
    void result.user;
    if (result.status === 'mfa-required') return (await auth.verifyMfa({ mfaToken: result.mfaToken, code: '123456' })).user;
    if (result.status === 'linked') return null;
    return result.user;
  } catch (error) {
    if (error instanceof ExternalSignInError && error.appCode === 'IDENTITY_LINK_REQUIRED') return null;
    if (error instanceof BrowserUnavailableError) return null;
    throw error;
  }
}

export async function signIn(email: string, password: string, askForCode: () => Promise<string>): Promise<User> {
  const result = await auth.login({ email, password });
  // @ts-expect-error login takes an email and a password, not a username
  await auth.login({ username: 'alice', password });
  // @ts-expect-error there is no user before the status says signed-in
  void result.user;
  if (result.status === 'mfa-required') {
    // @ts-expect-error the second step takes a code or a recovery code, not the password
    await auth.verifyMfa({ mfaToken: result.mfaToken, password });
    // @ts-expect-error and not both
    await auth.verifyMfa({ mfaToken: result.mfaToken, code: '123456', recoveryCode: 'ABCDEFGHIJ' });
    const signedIn = await auth.verifyMfa({ mfaToken: result.mfaToken, code: await askForCode() });
    return signedIn.user;
  }
  // @ts-expect-error user.me is a query, not a mutation
  await auth.user.me.mutate();
  return auth.user.me.query();
}

// The verifier's declarations resolve too (they carry @latchkey/protocol's types inside).
export type VerifiedClaims = Claims;
export const makeVerifier: typeof createVerifier = createVerifier;
