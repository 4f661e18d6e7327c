/**
 * `@latchkey/server/testing`: the real server in-process for your tests, with no HTTP and no
 * database server. A kit is the real router on an in-memory PGlite with the migrations applied
 * (cloned from one migrated snapshot per process, so every kit after the first is cheap), a low
 * bcrypt cost and a clock that only moves when told to.
 */
import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { type App, createApp } from './app.js';
import { type Config, loadConfig } from './config.js';
import { type DatabaseHandle, databaseFromPGlite, migrateToLatest } from './db/database.js';
import { ManualClock } from './lib/clock.js';
import { parseDuration } from './lib/duration.js';
import { createLogger, type Logger } from './lib/logger.js';
import { outboxMails } from './modules/mail/outbox.js';
import { createCaller } from './router.js';
import type { RequestInfo } from './trpc/context.js';

export type Caller = ReturnType<typeof createCaller>;
export type SignedUp = Awaited<ReturnType<Caller['auth']['register']>> & {
  password: string;
  /** A caller that presents this user's access token. */
  caller: Caller;
};

export interface TestClock {
  now(): Date;
  advance(seconds: number): void;
}

export interface TestKitOptions {
  /** Configuration variables, as the server would read them from the environment. */
  env?: Record<string, string>;
  /** Run on this (migrated) database instead of a fresh in-memory one; it is not closed with the kit. */
  database?: DatabaseHandle;
  /** Where the clock starts (default 2026-01-01T00:00:00Z). */
  now?: Date;
  /** Another clock to use, e.g. one that follows real time (the default stands still until advanced). */
  clock?: TestClock;
  logger?: Logger;
}

export interface TestMail {
  kind: string;
  to: string;
  subject: string;
  /** The plain-text body; null once the mail was delivered (bodies are purged). */
  text: string | null;
  /** The links in the body, e.g. `https://app.example/verify-email?token=...`. */
  links: string[];
  sentAt: Date | null;
}

export interface TestKit {
  /** The mails queued so far, oldest first (the kit runs no mail worker, so they stay queued). */
  mails(): Promise<TestMail[]>;
  /** A caller with no access token, from 192.0.2.1. */
  caller: Caller;
  /** A caller as from a client with this access token / address / user agent. */
  callerFor(request: Partial<RequestInfo> & { accessToken?: string }): Caller;
  /** Registers a user (unique unless given) and returns its session with a caller signed in as it. */
  signUp(input?: Partial<{ username: string; email: string; password: string }>): Promise<SignedUp>;
  /** Moves the server's clock: `kit.advance('16m')`, `'30s'`, `'7d'`, or seconds. */
  advance(duration: string | number): void;
  clock: TestClock;
  config: Readonly<Config>;
  app: App;
  database: DatabaseHandle;
  close(): Promise<void>;
}

export const TEST_JWT_SECRET = 'latchkey-test-kit-secret-of-at-least-32-bytes';

let snapshot: Promise<File | Blob> | undefined;

/**
 * The migrated data directory every in-memory kit starts from: made once per process, then
 * loaded by each kit (cheaper than migrating, or than PGlite's clone(), which dumps each time).
 */
function migratedSnapshot(): Promise<File | Blob> {
  snapshot ??= (async () => {
    const template = await PGlite.create();
    try {
      await migrateToLatest(databaseFromPGlite(template).db);
      return await template.dumpDataDir('none');
    } finally {
      await template.close();
    }
  })();
  return snapshot;
}

export function testConfig(env: Record<string, string> = {}): Readonly<Config> {
  return loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    BCRYPT_COST: '4',
    DATABASE_URL: 'memory://',
    LOG_LEVEL: 'silent',
    // Every call of a test comes from one address: per-address throttles would get in the way.
    RATE_LIMIT_SCALE: '1000',
    // The kit reads the outbox and delivers nothing: no SMTP server is needed, in any NODE_ENV.
    MAIL_TRANSPORT: 'file',
    ...env,
  });
}

export async function createTestKit(options: TestKitOptions = {}): Promise<TestKit> {
  const ownsDatabase = options.database === undefined;
  const database =
    options.database ?? databaseFromPGlite(await PGlite.create({ loadDataDir: await migratedSnapshot(), relaxedDurability: true }));
  const clock = options.clock ?? new ManualClock(options.now ?? new Date('2026-01-01T00:00:00Z'));
  const config = testConfig(options.env);
  const app = await createApp(config, { database, clock, logger: options.logger ?? createLogger('silent') });

  const callerFor = ({ accessToken, ...request }: Partial<RequestInfo> & { accessToken?: string } = {}) =>
    createCaller({
      services: app.services,
      request: {
        authorization: accessToken ? `Bearer ${accessToken}` : undefined,
        ip: '192.0.2.1',
        userAgent: 'latchkey-test-kit',
        ...request,
      },
    });
  const caller = callerFor();

  return {
    caller,
    callerFor,
    async mails() {
      const rows = await outboxMails(database.db);
      return rows.map((row) => ({
        kind: row.kind,
        to: row.to_address,
        subject: row.subject,
        text: row.text_body,
        links: row.text_body?.match(/https?:\/\/\S+/g) ?? [],
        sentAt: row.sent_at,
      }));
    },
    async signUp(input = {}) {
      const name = `user${randomUUID().replaceAll('-', '').slice(0, 12)}`;
      const credentials = { username: name, email: `${name}@example.com`, password: `test passphrase ${name}`, ...input };
      const session = await caller.auth.register(credentials);
      return { ...session, password: credentials.password, caller: callerFor({ accessToken: session.accessToken }) };
    },
    advance(duration) {
      const seconds = typeof duration === 'number' ? duration : parseDuration(duration);
      if (seconds === undefined) throw new Error(`not a duration: ${String(duration)}`);
      clock.advance(seconds);
    },
    clock,
    config,
    app,
    database,
    async close() {
      await app.close();
      if (ownsDatabase) await database.close();
    },
  };
}
