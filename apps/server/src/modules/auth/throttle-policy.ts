import type { Limit } from '../../lib/rate-limiter.js';

/**
 * How often a client address (or an account) may try. Failed logins per account back off
 * exponentially (lib/rate-limiter.ts, LOGIN_BACKOFF); these are the fixed windows.
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
