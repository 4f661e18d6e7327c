import { APP_CODE_MESSAGES } from '@latchkey/protocol';

/**
 * What the external sign-in methods use of `window.location`: the page's address, to read the
 * callback's fragment and to navigate. Structural, so that tests (and other runtimes) can give
 * their own; a browser's `Location` is one.
 */
export interface SignInLocation {
  readonly href: string;
  readonly hash: string;
  assign(url: string): void;
}

/** What `completeSignIn` uses of `window.history`: replacing the entry's URL, to drop the fragment. A browser's `History` is one. */
export interface SignInHistory {
  readonly state: unknown;
  replaceState(data: unknown, unused: string, url?: string): void;
}

/**
 * Raised by the external sign-in methods where there is no browser page to navigate (Node, a
 * worker): the provider's pages and the callback run in a browser. Nothing is sent to the server
 * first.
 */
export class BrowserUnavailableError extends Error {
  override name = 'BrowserUnavailableError';
  constructor(
    message = 'Signing in with a provider navigates the browser: call this in a page (no `location` here), or pass `location` and `history` to createAuthClient',
  ) {
    super(message);
  }
}

/**
 * The server sent the browser back with `#error=<appCode>` instead of a code: the sign-in with the
 * provider failed (`IDENTITY_LINK_REQUIRED`, `OIDC_STATE_INVALID`, `OIDC_RESPONSE_INVALID`,
 * `PROVIDER_UNAVAILABLE`, `IDENTITY_IN_USE`, `ACCOUNT_DISABLED`, ...). `appCode` is the server's,
 * as `data.appCode` of a `TRPCClientError` is.
 */
export class ExternalSignInError extends Error {
  override name = 'ExternalSignInError';
  readonly appCode: string;
  constructor(appCode: string) {
    super((APP_CODE_MESSAGES as Readonly<Record<string, string>>)[appCode] ?? `Signing in with the provider failed (${appCode})`);
    this.appCode = appCode;
  }
}

/** What a callback's redirect put in the fragment: a one-time code, an error, or nothing of ours. */
export type CallbackFragment =
  | { kind: 'code'; code: string }
  | { kind: 'link'; code: string }
  | { kind: 'error'; appCode: string }
  | { kind: 'none' };

/** An appCode as the server writes them; anything else in `#error=` is not the server's. */
const APP_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
/** The server's one-time codes are base64url, 43 characters; the exchange accepts up to 256. */
const ONE_TIME_CODE = /^[A-Za-z0-9_-]{1,256}$/;

/**
 * Reads the fragment of the callback's redirect: `#code=<one-time code>`, `#link_code=<code>` (a
 * link flow's) or `#error=<appCode>`.
 * An `error` wins over a `code` (the server never sends both); a malformed error is reported as
 * `OIDC_RESPONSE_INVALID`; a fragment with neither, or a malformed code, is `none`: it is the
 * page's own.
 */
export function parseCallbackFragment(hash: string): CallbackFragment {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const errors = params.getAll('error');
  if (errors.length > 0) {
    const [appCode] = errors;
    return {
      kind: 'error',
      appCode: errors.length === 1 && appCode !== undefined && APP_CODE.test(appCode) ? appCode : 'OIDC_RESPONSE_INVALID',
    };
  }
  const codes = params.getAll('code');
  const [code] = codes;
  if (codes.length === 1 && code !== undefined && ONE_TIME_CODE.test(code)) return { kind: 'code', code };
  // A link flow's callback: a code only the signed-in user who started it can turn into the link.
  const linkCodes = params.getAll('link_code');
  const [linkCode] = linkCodes;
  if (linkCodes.length === 1 && linkCode !== undefined && ONE_TIME_CODE.test(linkCode)) return { kind: 'link', code: linkCode };
  return { kind: 'none' };
}

/** `href` without its fragment. */
export function withoutFragment(href: string): string {
  const index = href.indexOf('#');
  return index === -1 ? href : href.slice(0, index);
}

/**
 * The URL of the server's start route for `provider`, coming back to `redirectTo` (resolved against
 * the page's address when relative; the page itself, without its fragment, when not given).
 */
export function startUrl(serverUrl: string, provider: string, redirectTo: string | undefined, page: string | undefined): string {
  const base = serverUrl.replace(/\/+$/, '');
  const url = new URL(`${base}/auth/oidc/${encodeURIComponent(provider)}/start`);
  url.searchParams.set('redirect_to', resolveRedirect(redirectTo, page));
  return url.href;
}

/** Where the browser should come back to: absolute, as the server requires, and without a fragment (the server writes its own). */
export function resolveRedirect(redirectTo: string | undefined, page: string | undefined): string {
  if (redirectTo === undefined) {
    if (page === undefined) throw new BrowserUnavailableError('redirectTo is needed where there is no page to come back to');
    return withoutFragment(page);
  }
  return withoutFragment(page === undefined ? new URL(redirectTo).href : new URL(redirectTo, page).href);
}

/** The page's location and history: the ones given, else the browser's; BrowserUnavailableError when there are none. */
export function browserOf(given: { location?: SignInLocation | undefined; history?: SignInHistory | undefined }): {
  location: SignInLocation;
  history: SignInHistory | undefined;
} {
  const location = given.location ?? (typeof globalThis.location === 'object' ? globalThis.location : undefined);
  if (!location || typeof location.assign !== 'function') throw new BrowserUnavailableError();
  const history = given.history ?? (typeof globalThis.history === 'object' ? globalThis.history : undefined);
  return { location, history };
}
