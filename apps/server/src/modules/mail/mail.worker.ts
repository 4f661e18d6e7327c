import type { Db } from '../../db/database.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { MailTransport } from '../../lib/mailer.js';
import { claimDueMails, markFailed, markSent } from './outbox.repository.js';

/** After this many failed attempts (about a day of back-off) a mail is given up. */
export const MAX_ATTEMPTS = 20;
const LEASE_SECONDS = 120;
const BATCH = 20;

/** Seconds before the next attempt after `attempts` failures: 5 s doubling, at most an hour. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(3600, 5 * 2 ** Math.max(0, attempts - 1));
}

export interface MailWorker {
  /** Sends what is due now; resolves with how many mails were delivered. */
  runOnce(): Promise<number>;
  /** Polls every `intervalMs`; `nudge()` runs a pass at once (after a mail was queued). */
  start(intervalMs?: number): void;
  nudge(): void;
  stop(): Promise<void>;
}

/**
 * Delivers the outbox. Safe with several workers and instances on one database: each claims
 * mails under a lease with SKIP LOCKED, so a mail is sent by one worker only. A failure (server
 * down, refused) is retried with back-off; registration and every other writer never wait on it.
 */
export function createMailWorker(deps: { db: Db; transport: MailTransport; clock: Clock; logger: Logger }): MailWorker {
  const { db, transport, clock, logger } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let again = false;
  let stopped = false;

  async function pass(): Promise<number> {
    let delivered = 0;
    for (;;) {
      const mails = await claimDueMails(db, clock.now(), BATCH, LEASE_SECONDS);
      for (const mail of mails) {
        try {
          if (mail.text_body === null) throw new Error('the mail has no body');
          await transport.send({ to: mail.to_address, subject: mail.subject, text: mail.text_body, html: mail.html_body ?? undefined });
          await markSent(db, mail.id, clock.now());
          delivered += 1;
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          const now = clock.now();
          const giveUp = mail.attempts >= MAX_ATTEMPTS;
          await markFailed(db, mail.id, {
            nextAttemptAt: new Date(now.getTime() + retryDelaySeconds(mail.attempts) * 1000),
            error: message,
            ...(giveUp && { giveUpAt: now }),
          });
          logger.warn({ mailId: mail.id, kind: mail.kind, attempts: mail.attempts, err: message, gaveUp: giveUp }, 'mail not delivered');
        }
      }
      if (mails.length < BATCH) return delivered;
    }
  }

  function runOnce(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = pass().finally(() => {
      running = undefined;
      if (again && !stopped) {
        again = false;
        void runOnce().catch(() => undefined);
      }
    });
    return running;
  }

  return {
    runOnce,
    start(intervalMs = 1_000) {
      const tick = () => {
        if (stopped) return;
        runOnce()
          .catch((error: unknown) =>
            logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'mail worker pass failed'),
          )
          .finally(() => {
            if (!stopped) {
              timer = setTimeout(tick, intervalMs);
              timer.unref();
            }
          });
      };
      tick();
    },
    nudge() {
      if (!stopped) runOnce().catch(() => undefined);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
      transport.close();
    },
  };
}
