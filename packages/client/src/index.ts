export {
  type AuthClient,
  type AuthClientOptions,
  type AuthMethods,
  createAuthClient,
  type IdentityMethods,
  type LogoutResult,
  type PasskeyMethods,
} from './client.js';
export { BrowserUnavailableError, ExternalSignInError, type SignInHistory, type SignInLocation } from './identities.js';
export { WebAuthnUnavailableError } from './passkeys.js';
export { isCurableAuthError, refreshLink } from './refresh-link.js';
export {
  DEFINITIVE_REFRESH_REFUSALS,
  isDefinitiveRefusal,
  NoSessionError,
  type SessionListener,
  SessionManager,
} from './session-manager.js';
export { decodeState, encodeState, localStorageStorage, memoryStorage, type SessionStorage, type StoredState } from './storage.js';
export type {
  AppRouter,
  CompleteSignInResult,
  Identity,
  IdentityLinked,
  LoginResult,
  MfaRequired,
  NoSignInToComplete,
  Passkey,
  PasskeyRegistration,
  Provider,
  Reauthenticated,
  ReauthenticateInput,
  RegisterPasskeyInput,
  RouterInputs,
  RouterOutputs,
  Session,
  SignedIn,
  SignInWithOptions,
  SignInWithPasskeyInput,
  StoredSession,
  Tokens,
  User,
  VerifyMfaInput,
  VerifyMfaWithPasskeyInput,
} from './types.js';
