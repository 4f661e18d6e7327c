import { ACCESS_TOKEN_REFUSALS } from '@latchkey/protocol';
import { TRPCClientError, type TRPCLink } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { observable, type Unsubscribable } from '@trpc/server/observable';
import { isDefinitiveRefusal, NoSessionError, type SessionManager } from './session-manager.js';

/** Failures a fresh access token can cure. Anything else passes through untouched. */
const CURABLE: ReadonlySet<string> = new Set(ACCESS_TOKEN_REFUSALS);

/** Procedures that manage tokens themselves: never refreshed around, or they would loop. */
const TOKEN_PROCEDURES = new Set([
  'auth.refresh',
  'auth.login',
  'auth.register',
  'auth.logout',
  'auth.mfa.verify',
  'auth.passkeys.authenticate',
]);

export function isCurableAuthError(error: unknown): boolean {
  if (!(error instanceof TRPCClientError)) return false;
  const data: unknown = error.data;
  if (typeof data !== 'object' || data === null) return false;
  const { code, appCode } = data as { code?: unknown; appCode?: unknown };
  // Each operation of a batch is judged by its own code: a mixed batch comes back as HTTP 207.
  return code === 'UNAUTHORIZED' && typeof appCode === 'string' && CURABLE.has(appCode);
}

function asClientError(error: unknown): TRPCClientError<AnyRouter> {
  return TRPCClientError.from(error instanceof Error ? error : new Error(String(error)));
}

/**
 * Refreshes before sending when the access token is about to expire, and retries an operation
 * exactly once after a refresh when it failed for want of a valid access token. Concurrent
 * failures share one refresh (see SessionManager). When the refresh after a failure fails, the
 * operation fails with its own original error; when the refresh before sending fails and leaves no
 * session, with the refresh's error.
 */
export function refreshLink<TRouter extends AnyRouter>(sessions: SessionManager): TRPCLink<TRouter> {
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        let subscription: Unsubscribable | undefined;
        let stopped = false;
        const managesTokens = TOKEN_PROCEDURES.has(op.path);

        const send = (retried: boolean, version: number) => {
          if (stopped) return;
          subscription = next(op).subscribe({
            next: (value) => observer.next(value),
            complete: () => observer.complete(),
            error: (error) => {
              if (retried || managesTokens || !sessions.peek() || !isCurableAuthError(error)) {
                observer.error(error);
                return;
              }
              sessions.refresh(version).then(
                () => send(true, sessions.version),
                // The session is over: the call's own refusal says why. Weather (the network, a
                // 429, a 5xx) kept the session: the refresh's error says why.
                (refreshError: unknown) =>
                  observer.error(
                    refreshError instanceof NoSessionError || isDefinitiveRefusal(refreshError) ? error : asClientError(refreshError),
                  ),
              );
            },
          });
        };

        const start = async () => {
          if (!managesTokens) {
            try {
              await sessions.refreshIfExpiring();
            } catch (error) {
              // Without a session the call could only fail for want of a token: the refresh's
              // own error says why. With one (signed in meanwhile), the call goes ahead.
              if (!sessions.peek()) throw error;
            }
          }
          send(false, sessions.version);
        };
        start().catch((error: unknown) => observer.error(asClientError(error)));

        return () => {
          stopped = true;
          subscription?.unsubscribe();
        };
      });
}
