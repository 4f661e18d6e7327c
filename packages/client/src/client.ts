import { DEFAULT_MAX_BATCH_SIZE } from '@latchkey/protocol';
import { startAuthentication, startRegistration } from '@simplewebauthn/browser';
import { createTRPCClient, httpBatchLink, httpLink, type TRPCClient } from '@trpc/client';
import superjson from 'superjson';
import {
  browserOf,
  ExternalSignInError,
  parseCallbackFragment,
  resolveRedirect,
  type SignInHistory,
  type SignInLocation,
  startUrl,
  withoutFragment,
} from './identities.js';
import { requireWebAuthn } from './passkeys.js';
import { refreshLink } from './refresh-link.js';
import { type SessionListener, SessionManager } from './session-manager.js';
import { memoryStorage, type SessionStorage } from './storage.js';
import type {
  AppRouter,
  CompleteSignInResult,
  Identity,
  LoginResult,
  PasskeyRegistration,
  Reauthenticated,
  ReauthenticateInput,
  RegisterPasskeyInput,
  RouterInputs,
  Session,
  SignedIn,
  SignInWithOptions,
  SignInWithPasskeyInput,
  StoredSession,
  VerifyMfaInput,
  VerifyMfaWithPasskeyInput,
} from './types.js';

type HeadersInit = Record<string, string>;

export interface AuthClientOptions {
  /** The server's base URL, e.g. `http://localhost:3000` (the tRPC endpoint is `/trpc` below it). */
  url: string;
  storage?: SessionStorage;
  fetch?: typeof globalThis.fetch;
  /** Called once when the session ends for good (refresh refused, revoked, expired). */
  onSessionExpired?: (error: unknown) => void;
  /** Extra headers for every request, computed per attempt when a function. */
  headers?: HeadersInit | (() => HeadersInit | Promise<HeadersInit>);
  /** Refresh before a call when the access token expires within this many ms (default 30 s). */
  refreshMarginMs?: number;
  /** How long a tab waits for the storage's lock (another tab's refresh, login or logout) before going ahead alone (default 10 s). */
  lockTimeoutMs?: number;
  /** Batch concurrent calls into one request (default true). */
  batch?: boolean;
  /**
   * The most calls sent in one batched request (default 10, the server's default MAX_BATCH_SIZE,
   * above which it refuses the whole batch): more concurrent calls go in several requests.
   */
  maxBatchSize?: number;
  /** The client's clock, in ms; injectable for tests. */
  now?: () => number;
  /**
   * The page's `location` for `signInWith`, `completeSignIn` and `identities.link` (default: the
   * browser's `window.location`); injectable for tests and other runtimes.
   */
  location?: SignInLocation;
  /** The page's `history`, with which `completeSignIn` drops the callback's fragment (default: the browser's `window.history`). */
  history?: SignInHistory;
}

export interface AuthMethods {
  /** Creates the account and signs in: stores the session, resolves to the server's answer marked `signed-in`. */
  register(input: RouterInputs['auth']['register']): Promise<SignedIn>;
  /**
   * Signs in with the password. Resolves to `{ status: 'signed-in', user, ... }` with the session
   * stored, or, for an account with a second factor, to `{ status: 'mfa-required', mfaToken,
   * factors }` with nothing stored (the current session, if any, stays): continue with `verifyMfa`.
   */
  login(input: RouterInputs['auth']['login']): Promise<LoginResult>;
  /**
   * A login's second step: its `mfaToken` with a code of the authenticator app or a recovery code.
   * Stores the session as a login does and resolves to `{ status: 'signed-in', user, ... }`; a
   * wrong code rejects with the server's error (`MFA_CODE_INVALID`) and stores nothing.
   */
  verifyMfa(input: VerifyMfaInput): Promise<SignedIn>;
  /**
   * Passkeys of the signed-in user. The rest (`auth.passkeys.list`, `.rename`, `.remove`) goes
   * through the typed client as any other call.
   */
  passkeys: PasskeyMethods;
  /**
   * Signs in with a passkey, as the only factor (a user-verified passkey counts as two: the
   * session's token carries `amr: ["hwk"]`, `aal: 2`). Without `email` any passkey of this site may
   * answer (usernameless); `conditional` waits for the user to pick one in the page's autofill.
   * Stores the session as `login` does and resolves to `{ status: 'signed-in', user, ... }`. A
   * passkey the server refuses rejects with its error (`PASSKEY_INVALID`); a ceremony the user
   * cancels, with @simplewebauthn/browser's `WebAuthnError` (named as the browser's error, e.g.
   * `NotAllowedError`);
   * without WebAuthn (Node), with `WebAuthnUnavailableError`. Nothing is stored then.
   */
  signInWithPasskey(input?: SignInWithPasskeyInput): Promise<SignedIn>;
  /**
   * A login's second step with one of the account's passkeys (the `mfa-required` answer lists a
   * factor `{ type: 'passkey' }`): stores the session as `verifyMfa` does.
   */
  verifyMfaWithPasskey(input: VerifyMfaWithPasskeyInput): Promise<SignedIn>;
  /**
   * A fresh proof of identity in the current session with one of the user's passkeys, for the
   * changes that need a recent one (removing a passkey, changing the password, ...): the fresh
   * access token the server answers (`auth.reauthenticate`) replaces the stored one, so that the
   * next calls carry it.
   */
  reauthenticateWithPasskey(): Promise<Reauthenticated>;
  /**
   * A fresh proof of identity in the current session with the password, an authenticator code or
   * a recovery code (`auth.reauthenticate`), for the changes that need a recent one (the email,
   * the password, factors): stores the fresh access token as `reauthenticateWithPasskey` does,
   * so that the next calls carry it. Rejects with the server's error (a wrong password:
   * `INVALID_CREDENTIALS`), and nothing is stored then.
   */
  reauthenticate(proof: ReauthenticateInput): Promise<Reauthenticated>;
  /**
   * Signs in with an external provider (an id of `auth.providers`: `google`, `github`, ...):
   * navigates the browser to the server's `/auth/oidc/{provider}/start`, from where the provider's
   * pages take over; the browser comes back to `redirectTo` (default: this page), where
   * `completeSignIn()` finishes. Resolves as the navigation starts. Where there is no page to
   * navigate (Node), rejects with `BrowserUnavailableError` and sends nothing.
   */
  signInWith(provider: string, options?: SignInWithOptions): Promise<void>;
  /**
   * Completes an external sign-in on the page the provider sent the browser back to: reads
   * `#code=<one-time code>` (or `#error=<appCode>`) from `location.hash`, drops the fragment from
   * the address (`history.replaceState`) before anything else, and exchanges the code
   * (`auth.exchangeCode`, outside the refresh link, as `login`). Resolves as `login` does:
   * `{ status: 'signed-in', user, ... }` with the session stored, or `{ status: 'mfa-required',
   * mfaToken, factors }` with nothing stored (continue with `verifyMfa`); after `identities.link`,
   * `#link_code=` is confirmed with the signed-in session (`auth.identities.linkComplete`) and it
   * resolves `{ status: 'linked', identity }`; and to `{ status: 'none' }` when the address has no
   * such fragment (call it on every load of the page). `#error=X` rejects
   * with `ExternalSignInError` (`appCode` X); a code the server refuses (used, older than 60 s)
   * with its `TRPCClientError` (`TOKEN_INVALID`).
   */
  completeSignIn(): Promise<CompleteSignInResult>;
  /** The signed-in user's external identities (OpenID Connect providers, GitHub). */
  identities: IdentityMethods;
  /**
   * Forgets the session here, always, and ends it on the server if the server can be reached.
   * `serverConfirmed` is false when the server could not be told (network, 429, 5xx): the
   * refresh token then stays valid on the server until it expires or is revoked.
   */
  logout(): Promise<LogoutResult>;
  /** Ends every session of the user, this one included. */
  logoutAll(): Promise<{ revoked: number }>;
  /** The current tokens (and user), or null when signed out. */
  session(): Promise<StoredSession | null>;
  /** Follows sign-in state: called with the new session, or null when signed out. */
  onSessionChange(listener: SessionListener): () => void;
}

export interface PasskeyMethods {
  /**
   * Creates a passkey for the signed-in user (who needs a recent proof of identity: a sign-in or a
   * re-authentication within REAUTH_MAX_AGE) and registers it. Resolves to the server's answer:
   * the passkey, and `recoveryCodes` when it is the account's first second factor (empty otherwise).
   */
  register(input?: RegisterPasskeyInput): Promise<PasskeyRegistration>;
}

export interface IdentityMethods {
  /** The identities linked to the signed-in user, oldest first (`auth.identities.list`). */
  list(): Promise<Identity[]>;
  /**
   * Links an identity of `provider` to the signed-in user: asks the server for a link flow
   * (`auth.identities.linkStart`, which needs a recent proof of identity: else
   * `REAUTHENTICATION_REQUIRED`), then navigates the browser to it. The browser comes back to
   * `redirectTo` (default: this page) with `#link_code=...`, which `completeSignIn()` confirms with
   * this user's session (`IDENTITY_IN_USE` when the identity is another account's), or `#error=...`. Rejects with `BrowserUnavailableError` where there is no page, before asking.
   */
  link(provider: string, options?: SignInWithOptions): Promise<void>;
  /** Unlinks one of the user's identities (`auth.identities.unlink`; a recent proof of identity needed, and another way in left). */
  unlink(identityId: string): Promise<{ success: true }>;
}

export interface LogoutResult {
  /** The server ended the session (or there was none to end). */
  serverConfirmed: boolean;
  /** Why the server could not be told, when it could not. */
  error?: unknown;
}

export type AuthClient = TRPCClient<AppRouter> & AuthMethods;

function trpcUrl(url: string): string {
  return `${url.replace(/\/+$/, '')}/trpc`;
}

export function createAuthClient(options: AuthClientOptions): AuthClient {
  const url = trpcUrl(options.url);
  const extraHeaders = async (): Promise<HeadersInit> =>
    typeof options.headers === 'function' ? await options.headers() : (options.headers ?? {});

  // Token operations go straight to the server, outside the refresh link.
  const direct = createTRPCClient<AppRouter>({
    links: [httpLink({ url, transformer: superjson, fetch: options.fetch, headers: extraHeaders })],
  });

  const sessions = new SessionManager({
    storage: options.storage ?? memoryStorage(),
    refresh: (refreshToken) => direct.auth.refresh.mutate({ refreshToken }),
    onSessionExpired: options.onSessionExpired,
    now: options.now ?? Date.now,
    refreshMarginMs: options.refreshMarginMs ?? 30_000,
    lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
  });

  // Headers are computed for every attempt, so a retry carries the refreshed token.
  const headers = async (): Promise<HeadersInit> => {
    const token = sessions.peek()?.accessToken;
    return { ...(await extraHeaders()), ...(token ? { authorization: `Bearer ${token}` } : {}) };
  };
  const transport =
    options.batch === false
      ? httpLink({ url, transformer: superjson, fetch: options.fetch, headers })
      : httpBatchLink({
          url,
          transformer: superjson,
          fetch: options.fetch,
          headers,
          maxItems: options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE,
        });
  const api = createTRPCClient<AppRouter>({ links: [refreshLink<AppRouter>(sessions), transport] });

  // The device token is the storage's, not the session's: it is kept across logouts.
  const signIn = async (result: Session): Promise<SignedIn> => {
    const { deviceToken, ...session } = result;
    await sessions.set(session, deviceToken);
    return { status: 'signed-in', ...result };
  };

  const methods: AuthMethods = {
    register: async (input) => signIn(await direct.auth.register.mutate(input)),
    // Every login carries the device token of this storage's earlier sign-in, unless given one.
    login: async (input) => {
      const deviceToken = input.deviceToken ?? (await sessions.deviceToken());
      const answer = await direct.auth.login.mutate({ ...input, ...(deviceToken !== undefined && { deviceToken }) });
      // A second factor is needed: nothing is stored until verifyMfa completes the sign-in.
      if ('mfaRequired' in answer) {
        const { mfaRequired: _, ...challenge } = answer;
        return { status: 'mfa-required', ...challenge };
      }
      return signIn(answer);
    },
    // Outside the refresh link, as login: a wrong code is the server's answer, never a reason to refresh.
    verifyMfa: async (input) => signIn(await direct.auth.mfa.verify.mutate(input)),
    // WebAuthn is checked before anything is sent: no challenge is made for a ceremony that cannot run.
    passkeys: {
      async register(input = {}) {
        requireWebAuthn();
        const optionsJSON = await api.auth.passkeys.registrationOptions.mutate();
        const response = await startRegistration({ optionsJSON });
        return api.auth.passkeys.register.mutate({ response, ...(input.name !== undefined && { name: input.name }) });
      },
    },
    // Sign-ins go outside the refresh link, as login does.
    async signInWithPasskey(input = {}) {
      requireWebAuthn();
      const { challengeId, options } = await direct.auth.passkeys.authenticationOptions.mutate(
        input.email !== undefined ? { email: input.email } : {},
      );
      const response = await startAuthentication({ optionsJSON: options, useBrowserAutofill: input.conditional === true });
      return signIn(await direct.auth.passkeys.authenticate.mutate({ challengeId, response }));
    },
    async verifyMfaWithPasskey({ mfaToken }) {
      requireWebAuthn();
      const { options } = await direct.auth.passkeys.authenticationOptions.mutate({ mfaToken });
      const passkey = await startAuthentication({ optionsJSON: options });
      return signIn(await direct.auth.mfa.verify.mutate({ mfaToken, passkey }));
    },
    // Signed in: through the refresh link, with the access token the challenge is bound to.
    async reauthenticateWithPasskey() {
      requireWebAuthn();
      const { options } = await api.auth.passkeys.authenticationOptions.mutate({ reauthenticate: true });
      const passkey = await startAuthentication({ optionsJSON: options });
      const answer = await api.auth.reauthenticate.mutate({ passkey });
      await sessions.replaceAccessToken(answer);
      return answer;
    },
    async reauthenticate(proof) {
      const answer = await api.auth.reauthenticate.mutate(proof);
      await sessions.replaceAccessToken(answer);
      return answer;
    },
    // External sign-in: the browser goes to the server's start route, and comes back with a code.
    async signInWith(provider, { redirectTo } = {}) {
      const { location } = browserOf(options);
      location.assign(startUrl(options.url, provider, redirectTo, location.href));
    },
    async completeSignIn() {
      const { location, history } = browserOf(options);
      const fragment = parseCallbackFragment(location.hash);
      if (fragment.kind === 'none') return { status: 'none' };
      // Off the address bar (and the history) first: a reload does not try the code again.
      history?.replaceState(history.state, '', withoutFragment(location.href));
      if (fragment.kind === 'error') throw new ExternalSignInError(fragment.appCode);
      // A link flow's answer: confirmed with this user's session (through the refresh link).
      if (fragment.kind === 'link')
        return { status: 'linked', identity: await api.auth.identities.linkComplete.mutate({ code: fragment.code }) };
      // Outside the refresh link, as login: a refused code is the server's answer, never a reason to refresh.
      const answer = await direct.auth.exchangeCode.mutate({ code: fragment.code });
      if ('mfaRequired' in answer) {
        const { mfaRequired: _, ...challenge } = answer;
        return { status: 'mfa-required', ...challenge };
      }
      return signIn(answer);
    },
    identities: {
      list: () => api.auth.identities.list.query(),
      async link(provider, { redirectTo } = {}) {
        const { location } = browserOf(options);
        const { url: target } = await api.auth.identities.linkStart.mutate({
          provider,
          redirectTo: resolveRedirect(redirectTo, location.href),
        });
        location.assign(target);
      },
      unlink: (identityId) => api.auth.identities.unlink.mutate({ identityId }),
    },
    async logout() {
      await sessions.ready();
      const known = sessions.peek();
      // Forgotten first, here and in the storage; the server is told of the session the storage
      // held (another tab may have refreshed it meanwhile), or else of the one known here.
      const ending = (await sessions.clear()) ?? known;
      try {
        if (ending) await direct.auth.logout.mutate({ refreshToken: ending.refreshToken });
        return { serverConfirmed: true };
      } catch (error) {
        return { serverConfirmed: false, error };
      }
    },
    async logoutAll() {
      const result = await api.auth.logoutAll.mutate();
      await sessions.clear();
      return result;
    },
    async session() {
      await sessions.ready();
      return sessions.peek();
    },
    onSessionChange: (listener) => sessions.subscribe(listener),
  };

  // The tRPC client is a proxy of the router's paths; the methods sit beside them.
  return new Proxy(api, {
    get(target, property, receiver) {
      if (typeof property === 'string' && Object.hasOwn(methods, property)) return methods[property as keyof AuthMethods];
      return Reflect.get(target, property, receiver);
    },
  }) as AuthClient;
}
