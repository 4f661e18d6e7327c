/** The clean-up job: deletes what no one can use any more, through each module's own function. */
import type { Db } from '../db/database.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { deleteEventsBefore } from '../modules/audit/audit.service.js';
import { deleteExpiredFlows } from '../modules/identity/identity.service.js';
import { deleteExpiredChallenges } from '../modules/mfa/mfa.service.js';
import { deleteExpiredPasskeyChallenges } from '../modules/mfa/passkey.service.js';
import { deleteEndedSessionsBefore } from '../modules/session/session.service.js';
import { deleteStaleThrottles } from '../modules/throttle/throttle.service.js';

/** Ended sessions and stale throttle rows are kept this long (for the user's and the operator's view), then deleted. */
export const RETENTION_SECONDS = 24 * 60 * 60;

/**
 * One pass: deletes what has been dead for longer than the retention, and the security events
 * older than SECURITY_EVENT_RETENTION (in batches: see deleteEventsBefore); during a rotation of
 * JWT_SECRET, `reseal` seals second factors again under the current secret. Safe on every
 * instance at once.
 */
export async function cleanUp(
  db: Db,
  clock: Clock,
  securityEventRetentionSeconds: number,
  reseal: () => Promise<number> = async () => 0,
): Promise<{
  sessions: number;
  rateLimits: number;
  loginFailures: number;
  securityEvents: number;
  mfaChallenges: number;
  passkeyChallenges: number;
  oidcFlows: number;
  resealed: number;
}> {
  const now = clock.now().getTime();
  const before = new Date(now - RETENTION_SECONDS * 1000);
  const sessions = await deleteEndedSessionsBefore(db, before);
  const throttles = await deleteStaleThrottles(db, before);
  const securityEvents = await deleteEventsBefore(db, new Date(now - securityEventRetentionSeconds * 1000));
  const mfaChallenges = await deleteExpiredChallenges(db, before);
  const passkeyChallenges = await deleteExpiredPasskeyChallenges(db, before);
  const oidcFlows = await deleteExpiredFlows(db, before);
  const resealed = await reseal();
  return { sessions, ...throttles, securityEvents, mfaChallenges, passkeyChallenges, oidcFlows, resealed };
}

/**
 * Runs `cleanUp` every interval, with jitter so that instances started together spread out.
 * Every statement is an idempotent DELETE by time, so instances running it at once only repeat
 * each other's work; no coordination is needed.
 */
export function startCleanupJob(options: {
  db: Db;
  clock: Clock;
  logger: Logger;
  securityEventRetentionSeconds: number;
  /** Seals second factors again under the current secret (mfa's resealUnderCurrentSecret). */
  reseal?: () => Promise<number>;
  intervalMs?: number;
}): () => void {
  const interval = options.intervalMs ?? 10 * 60_000;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(run, interval / 2 + Math.random() * interval);
    timer.unref();
  };
  const run = () => {
    cleanUp(options.db, options.clock, options.securityEventRetentionSeconds, options.reseal)
      .then((deleted) => options.logger.info({ deleted }, 'cleanup'))
      .catch((error: unknown) => options.logger.warn({ err: error }, 'cleanup failed'))
      .finally(schedule);
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
