export { type AuthClient, type AuthClientOptions, type AuthMethods, createAuthClient, type LogoutResult } from './client.js';
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
  LoginResult,
  MfaRequired,
  RouterInputs,
  RouterOutputs,
  Session,
  SignedIn,
  StoredSession,
  Tokens,
  User,
  VerifyMfaInput,
} from './types.js';
