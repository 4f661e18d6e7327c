/** The throttle's rules: how often an address or an account may try, and the login back-off. */

export type Verdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface Limit {
  /** At most this many hits... */
  max: number;
  /** ...per window of this many seconds. */
  windowSeconds: number;
  /** A limit per client address: multiplied by RATE_LIMIT_SCALE (per-account limits never are). */
  perAddress?: boolean;
}

/** Back-off of failed logins per account: free attempts, then doubling waits, never a permanent lock. */
export const LOGIN_BACKOFF = {
  freeFailures: 5,
  firstWaitSeconds: 1,
  maxWaitSeconds: 15 * 60,
  /** After this many consecutive failures every attempt waits the longest, until one succeeds. */
  hardLimit: 100,
  hardLimitWaitSeconds: 60 * 60,
} as const;

export function backoffSeconds(failures: number): number {
  if (failures >= LOGIN_BACKOFF.hardLimit) return LOGIN_BACKOFF.hardLimitWaitSeconds;
  if (failures < LOGIN_BACKOFF.freeFailures) return 0;
  const exponent = failures - LOGIN_BACKOFF.freeFailures;
  return Math.min(LOGIN_BACKOFF.maxWaitSeconds, LOGIN_BACKOFF.firstWaitSeconds * 2 ** exponent);
}

/**
 * How often a client address (or an account) may try. Failed logins per account back off
 * exponentially (LOGIN_BACKOFF above); these are the fixed windows.
 */
export const LIMITS = {
  /** Failed logins from one address, whatever the accounts. */
  loginFailuresPerAddress: { max: 100, windowSeconds: 15 * 60, perAddress: true },
  /** New accounts from one address. */
  registrationsPerAddress: { max: 20, windowSeconds: 60 * 60, perAddress: true },
  /** Refreshes from one address; generous, as many users may share one address (NAT). */
  refreshesPerAddress: { max: 1_200, windowSeconds: 60, perAddress: true },
  /** Password-reset requests from one address, and for one account. */
  resetRequestsPerAddress: { max: 10, windowSeconds: 60 * 60, perAddress: true },
  resetRequestsPerAccount: { max: 3, windowSeconds: 60 * 60 },
  /** Verification mails asked again by one user. */
  verificationResendsPerUser: { max: 5, windowSeconds: 60 * 60 },
  /** Wrong current passwords on a password change, per account. */
  passwordChecksPerAccount: { max: 10, windowSeconds: 15 * 60 },
} as const satisfies Record<string, Limit>;

export const throttleKey = {
  loginAccount: (email: string) => `login:account:${email.trim().toLowerCase()}`,
  loginAddress: (ip: string) => `login:address:${ip}`,
  registerAddress: (ip: string) => `register:address:${ip}`,
  refreshAddress: (ip: string) => `refresh:address:${ip}`,
  passwordCheck: (userId: string) => `password-check:user:${userId}`,
  resetAddress: (ip: string) => `reset:address:${ip}`,
  resetAccount: (email: string) => `reset:account:${email.trim().toLowerCase()}`,
  verificationResend: (userId: string) => `verify-resend:user:${userId}`,
};
