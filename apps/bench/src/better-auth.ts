/**
 * The harness's side of the better-auth comparison: accounts signed up through better-auth's own
 * HTTP API, each bringing the session cookie that its get-session is then asked with.
 */
import { PASSWORD, type SeededUser } from './seed.js';

/** The schema baselines/better-auth.ts creates and migrates, beside the server's. */
export const BETTER_AUTH_SCHEMA = 'better_auth_bench';
/** Fixed, as JWT_SECRET is for the server: it signs better-auth's session cookies. Never used elsewhere. */
export const BETTER_AUTH_SECRET = 'better-auth-bench-secret-not-for-production-0123456789';

export interface BetterAuthUser {
  email: string;
  /** The `Cookie` header that carries the session: `name=value` pairs as better-auth set them. */
  cookie: string;
}

/** The `name=value` part of each Set-Cookie, joined as a browser would send them back. */
function cookieHeader(setCookies: readonly string[]): string {
  return setCookies.map((line) => line.split(';', 1)[0]?.trim() ?? '').join('; ');
}

export async function signUpBetterAuth(
  baseUrl: string,
  users: readonly SeededUser[],
  progress: (message: string) => void,
): Promise<BetterAuthUser[]> {
  const signedUp: BetterAuthUser[] = new Array(users.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < users.length; i = next++) {
      const user = users[i];
      if (!user) continue;
      const response = await fetch(`${baseUrl}/api/auth/sign-up/email`, {
        method: 'POST',
        // As a browser on the same origin sends it: better-auth refuses a POST without an Origin.
        headers: { 'content-type': 'application/json', origin: baseUrl },
        body: JSON.stringify({ email: user.email, password: PASSWORD, name: user.username }),
        signal: AbortSignal.timeout(120_000),
      });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`better-auth sign-up answered ${response.status}: ${text.slice(0, 300)}`);
      const setCookies = response.headers.getSetCookie();
      if (!setCookies.some((line) => /session_token=/.test(line))) throw new Error('better-auth sign-up set no session cookie');
      signedUp[i] = { email: user.email, cookie: cookieHeader(setCookies) };
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  progress(`signed up ${signedUp.length} accounts on better-auth`);
  return signedUp;
}

/**
 * The email of the user whose session get-session finds for `cookie`, or undefined. better-auth
 * answers 200 with `null` for a missing or unknown session: the load's 2xx count cannot tell the
 * two apart, so the harness checks every cookie this way before and after measuring.
 */
export async function sessionEmail(baseUrl: string, cookie: string): Promise<string | undefined> {
  const response = await fetch(`${baseUrl}/api/auth/get-session`, { headers: { cookie }, signal: AbortSignal.timeout(30_000) });
  if (response.status !== 200) return undefined;
  const body = (await response.json()) as { user?: { email?: unknown } } | null;
  return typeof body?.user?.email === 'string' ? body.user.email : undefined;
}

/** How many of `users` get-session does not answer with their own user. */
export async function unansweredSessions(baseUrl: string, users: readonly BetterAuthUser[]): Promise<number> {
  const emails = await Promise.all(users.map((u) => sessionEmail(baseUrl, u.cookie).catch(() => undefined)));
  return emails.filter((email, i) => email !== users[i]?.email).length;
}
