/**
 * A browser's cookie store, small enough for tests: it keeps what `Set-Cookie` headers set and
 * gives back the `Cookie` header for a URL. Like a browser, it keys cookies by host name, not by
 * port (the test servers all live on 127.0.0.1, so the provider's cookies and the server's share
 * the jar, as they would in a browser), honours `Path`, `Max-Age` and `Expires` (a past date or a
 * zero age deletes), and ignores `Domain`. It sends `Secure` cookies over plain http too: browsers
 * treat 127.0.0.1 as a secure context.
 */
export class CookieJar {
  readonly #cookies = new Map<string, StoredCookie>();

  /** Keeps the cookies of a response from `url` (`response.headers.getSetCookie()`). */
  store(url: URL | string, setCookieHeaders: readonly string[]): void {
    const from = new URL(url);
    for (const header of setCookieHeaders) {
      const cookie = parseSetCookie(header, from);
      if (!cookie) continue;
      const key = `${cookie.host}\u0000${cookie.path}\u0000${cookie.name}`;
      if (cookie.expires !== undefined && cookie.expires <= Date.now()) this.#cookies.delete(key);
      else this.#cookies.set(key, cookie);
    }
  }

  /** The `Cookie` header a browser would send to `url` ('' when there is none). */
  header(url: URL | string): string {
    const to = new URL(url);
    const now = Date.now();
    return [...this.#cookies.values()]
      .filter((c) => c.host === to.hostname && pathMatches(c.path, to.pathname) && (c.expires === undefined || c.expires > now))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  /** The value of the cookie of that name (any host and path), when there is one. */
  get(name: string): string | undefined {
    for (const cookie of this.#cookies.values()) if (cookie.name === name) return cookie.value;
    return undefined;
  }

  /** The cookies held, with their attributes as set. */
  list(): readonly StoredCookie[] {
    return [...this.#cookies.values()];
  }

  /** Forgets every cookie of that name (a browser whose user cleared it). */
  delete(name: string): void {
    for (const [key, cookie] of this.#cookies) if (cookie.name === name) this.#cookies.delete(key);
  }

  clear(): void {
    this.#cookies.clear();
  }
}

export interface StoredCookie {
  name: string;
  value: string;
  host: string;
  path: string;
  /** Epoch milliseconds; undefined for a session cookie. */
  expires?: number;
  httpOnly: boolean;
  secure: boolean;
  sameSite?: string;
}

function parseSetCookie(header: string, from: URL): StoredCookie | undefined {
  const [pair = '', ...attributes] = header.split(';');
  const eq = pair.indexOf('=');
  if (eq <= 0) return undefined;
  const cookie: StoredCookie = {
    name: pair.slice(0, eq).trim(),
    value: pair.slice(eq + 1).trim(),
    host: from.hostname,
    path: defaultPath(from.pathname),
    httpOnly: false,
    secure: false,
  };
  let maxAge: number | undefined;
  for (const attribute of attributes) {
    const at = attribute.indexOf('=');
    const key = (at < 0 ? attribute : attribute.slice(0, at)).trim().toLowerCase();
    const value = at < 0 ? '' : attribute.slice(at + 1).trim();
    if (key === 'path' && value.startsWith('/')) cookie.path = value;
    else if (key === 'expires') {
      const time = Date.parse(value);
      if (!Number.isNaN(time)) cookie.expires = time;
    } else if (key === 'max-age' && /^-?\d+$/.test(value)) maxAge = Number(value);
    else if (key === 'httponly') cookie.httpOnly = true;
    else if (key === 'secure') cookie.secure = true;
    else if (key === 'samesite') cookie.sameSite = value;
  }
  // Max-Age wins over Expires (RFC 6265 section 5.3).
  if (maxAge !== undefined) cookie.expires = maxAge <= 0 ? 0 : Date.now() + maxAge * 1000;
  return cookie;
}

/** RFC 6265 section 5.1.4: the request path up to, not including, its last slash. */
function defaultPath(pathname: string): string {
  const last = pathname.lastIndexOf('/');
  return last <= 0 ? '/' : pathname.slice(0, last);
}

function pathMatches(cookiePath: string, requestPath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}
