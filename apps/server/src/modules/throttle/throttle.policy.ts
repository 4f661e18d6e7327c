/** The throttle's rules: how often an address or an account may try, and the login back-off. */
import { addressBucket } from '../../lib/client-address.js';

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
  /** Verification and reset tokens tried from one address (given back when one works). */
  linkTokensPerAddress: { max: 20, windowSeconds: 60 * 60, perAddress: true },
  /** Wrong current passwords on a password change, per account. */
  passwordChecksPerAccount: { max: 10, windowSeconds: 15 * 60 },
  /** Codes checked for a signed-in account (setting up a factor, re-authenticating with one), per account. */
  secondFactorChecksPerAccount: { max: 10, windowSeconds: 15 * 60 },
  /** Unknown pending-sign-in tokens (mfaToken) tried from one address. */
  mfaTokensPerAddress: { max: 20, windowSeconds: 60 * 60, perAddress: true },
  /** Passkey ceremonies started from one address (each stores a challenge for five minutes). */
  passkeyChallengesPerAddress: { max: 300, windowSeconds: 15 * 60, perAddress: true },
  /** External sign-in flows started from one address (each stores a flow for ten minutes). */
  oidcFlowsPerAddress: { max: 300, windowSeconds: 15 * 60, perAddress: true },
  /** Provider callbacks answered from one address (each is recorded, pass or fail). */
  oidcCallbacksPerAddress: { max: 300, windowSeconds: 15 * 60, perAddress: true },
} as const satisfies Record<string, Limit>;

/**
 * The counters' keys. Per-address keys take the address as the request gave it, or undefined when
 * it cannot be known: those are counted together under `unknown`, IPv6 by its /64.
 */
export const throttleKey = {
  /** Consecutive failures for an account from anywhere without its device token: only the hard cap applies. */
  loginAccount: (email: string) => `login:account:${email.trim().toLowerCase()}`,
  /** Failures for an account from one address (without a device token): the back-off. */
  loginAccountAddress: (email: string, ip: string | undefined) =>
    `login:account-address:${email.trim().toLowerCase()}:${addressBucket(ip)}`,
  /** Failures for an account from one device that signed in to it before: the back-off, and no cap. */
  loginAccountDevice: (userId: string, deviceId: string) => `login:account-device:${userId}:${deviceId}`,
  loginAddress: (ip: string | undefined) => `login:address:${addressBucket(ip)}`,
  registerAddress: (ip: string | undefined) => `register:address:${addressBucket(ip)}`,
  refreshAddress: (ip: string | undefined) => `refresh:address:${addressBucket(ip)}`,
  /** Mailed tokens (verification, reset) tried from one address, counted before they are checked. */
  linkTokenAddress: (ip: string | undefined) => `link-token:address:${addressBucket(ip)}`,
  passwordCheck: (userId: string) => `password-check:user:${userId}`,
  secondFactorCheck: (userId: string) => `second-factor-check:user:${userId}`,
  mfaTokenAddress: (ip: string | undefined) => `mfa-token:address:${addressBucket(ip)}`,
  passkeyChallengeAddress: (ip: string | undefined) => `passkey-challenge:address:${addressBucket(ip)}`,
  oidcFlowAddress: (ip: string | undefined) => `oidc-flow:address:${addressBucket(ip)}`,
  oidcCallbackAddress: (ip: string | undefined) => `oidc-callback:address:${addressBucket(ip)}`,
  resetAddress: (ip: string | undefined) => `reset:address:${addressBucket(ip)}`,
  resetAccount: (email: string) => `reset:account:${email.trim().toLowerCase()}`,
  verificationResend: (userId: string) => `verify-resend:user:${userId}`,
};
