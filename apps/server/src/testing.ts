/**
 * `@latchkey/server/testing`: the real server in-process for your tests, with no HTTP and no
 * database server. A kit is the real router on a freshly migrated schema of its own in the
 * process's one in-memory PGlite (started by the first kit; every later kit costs milliseconds),
 * a low bcrypt cost and a clock that only moves when told to.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { PGlite } from '@electric-sql/pglite';
import { DEFAULT_MAX_BATCH_SIZE } from '@latchkey/protocol';
import { createTRPCClient, httpBatchLink, httpLink, type TRPCClient } from '@trpc/client';
import type { PGlite as KyselyPGlite } from 'kysely';
import pg from 'pg';
import superjson from 'superjson';
import { type App, createApp } from './app.js';
import { type Config, loadConfig } from './config.js';
import { createDatabase, type DatabaseHandle, databaseFromPGlite, migrateToLatest } from './db/database.js';
import { createHttpServer, type HttpServer } from './http/server.js';
import { ManualClock, ShiftedClock } from './lib/clock.js';
import { parseDuration } from './lib/duration.js';
import { createLogger, type Logger } from './lib/logger.js';
import { outboxMails } from './modules/mail/outbox.js';
import { type AppRouter, createCaller } from './router.js';
import type { RequestInfo } from './trpc/context.js';

export {
  type SoftwareAuthenticator,
  type SoftwareAuthenticatorOptions,
  type SoftwareCredential,
  softwareAuthenticator,
} from './testing-authenticator.js';

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

const SHARED = Symbol.for('latchkey.testing.pglite');

/**
 * The process's one PGlite instance, shared by every kit and test database: PGlite's start-up
 * costs seconds, a schema milliseconds. Each user of it is a schema; `run` serialises their work on
 * the single connection and sets the search_path to the user's schema first (only when it changes),
 * so each schema sees its own tables and nothing else, raw SQL and migrations included. Kept on
 * globalThis so that test files sharing a worker share the instance too.
 */
interface SharedPGlite {
  run<T>(schema: string, work: (pglite: PGlite) => Promise<T>): Promise<T>;
}

function sharedPGlite(): Promise<SharedPGlite> {
  const store = globalThis as { [SHARED]?: Promise<SharedPGlite> };
  store[SHARED] ??= PGlite.create().then((pglite) => {
    let queue: Promise<unknown> = Promise.resolve();
    let current: string | undefined;
    return {
      run<T>(schema: string, work: (pglite: PGlite) => Promise<T>): Promise<T> {
        const turn = queue.then(async () => {
          if (current !== schema) {
            await pglite.exec(`set search_path to "${schema}"`);
            current = schema;
          }
          return work(pglite);
        });
        queue = turn.catch(() => {});
        return turn;
      },
    };
  });
  return store[SHARED];
}

/** PGlite as Kysely uses it, confined to one schema of the shared instance. */
function schemaScoped(shared: SharedPGlite, schema: string): KyselyPGlite {
  let closed = false;
  return {
    get closed() {
      return closed;
    },
    ready: true,
    waitReady: Promise.resolve(),
    async close() {
      closed = true;
    },
    query: (text, params, options) => shared.run(schema, (pglite) => pglite.query(text, params, options)),
    transaction: (callback) => shared.run(schema, (pglite) => pglite.transaction(callback)),
  };
}

interface PGliteSchema {
  database: DatabaseHandle;
  /** Runs work on the shared instance with this schema's search_path. */
  run<T>(work: (pglite: PGlite) => Promise<T>): Promise<T>;
  name: string;
}

/** A new, empty schema of the shared PGlite, dropped with everything in it on close. */
async function pgliteSchema(): Promise<PGliteSchema> {
  const shared = await sharedPGlite();
  const name = `lk_${randomBytes(6).toString('hex')}`;
  await shared.run('public', (pglite) => pglite.exec(`create schema "${name}"`));
  const handle = databaseFromPGlite(schemaScoped(shared, name));
  let closing: Promise<void> | undefined;
  const database: DatabaseHandle = {
    ...handle,
    close() {
      closing ??= (async () => {
        await handle.close();
        await shared.run('public', (pglite) => pglite.exec(`drop schema if exists "${name}" cascade`));
      })();
      return closing;
    },
  };
  return { database, name, run: (work) => shared.run(name, work) };
}

/**
 * The migrations as statements, recorded once per process while they migrate a template schema:
 * every statement but the migrator's reads, in order, with the template's name as a placeholder.
 * Replaying them (one transaction, consecutive statements without parameters in one round trip)
 * builds the same schema, the migrator's bookkeeping included, in a fraction of the time the
 * migrator takes (it introspects the catalogue, which grows with every schema of the instance).
 */
interface MigrationScript {
  placeholder: string;
  steps: { text: string; params: unknown[] }[];
}

const TEMPLATE = Symbol.for('latchkey.testing.migration-script');

function migrationScript(): Promise<MigrationScript> {
  const store = globalThis as { [TEMPLATE]?: Promise<MigrationScript> };
  store[TEMPLATE] ??= (async () => {
    const shared = await sharedPGlite();
    const placeholder = `lk_template_${randomBytes(6).toString('hex')}`;
    await shared.run('public', (pglite) => pglite.exec(`create schema "${placeholder}"`));
    const steps: MigrationScript['steps'] = [];
    const record = (text: string, params: unknown[] = []) => {
      if (!/^\s*select\b/i.test(text)) steps.push({ text, params });
    };
    const scoped = schemaScoped(shared, placeholder);
    const recording: KyselyPGlite = {
      ...scoped,
      query: (text, params, options) => {
        record(text, params);
        return scoped.query(text, params, options);
      },
      transaction: (callback) =>
        scoped.transaction((tx) =>
          callback({
            ...tx,
            query: (text, params, options) => {
              record(text, params);
              return tx.query(text, params, options);
            },
          }),
        ),
    };
    await migrateToLatest(databaseFromPGlite(recording).db);
    return { placeholder, steps };
  })();
  return store[TEMPLATE];
}

/** A migrated schema of the shared PGlite: what each kit runs on (the template's statements, replayed). */
async function migratedPGliteSchema(): Promise<DatabaseHandle> {
  const [{ placeholder, steps }, schema] = await Promise.all([migrationScript(), pgliteSchema()]);
  const into = (text: string) => text.replaceAll(`"${placeholder}"`, `"${schema.name}"`);
  try {
    await schema.run((pglite) =>
      pglite.transaction(async (tx) => {
        let batch: string[] = [];
        for (const step of steps) {
          if (step.params.length === 0) {
            batch.push(into(step.text));
            continue;
          }
          if (batch.length) await tx.exec(batch.join(';\n'));
          batch = [];
          await tx.query(into(step.text), step.params);
        }
        if (batch.length) await tx.exec(batch.join(';\n'));
      }),
    );
  } catch (error) {
    await schema.database.close();
    throw error;
  }
  return schema.database;
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
  const database = options.database ?? (await migratedPGliteSchema());
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
  let closing: Promise<void> | undefined;

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
    close() {
      closing ??= (async () => {
        await app.close();
        if (ownsDatabase) await database.close();
      })();
      return closing;
    },
  };
}

/**
 * Polls `probe` until it yields something other than `undefined` or `false`, and resolves to that:
 * for what arrives asynchronously (a NOTIFY, a log line written as a response closes, a port).
 * A probe that throws is polled again; after `timeoutMs` this fails with the last error as cause.
 * The deadline is a timer, not a clock reading: the one source of "now" stays `lib/clock.ts`.
 */
export async function until<T>(probe: () => T | Promise<T>, timeoutMs = 5_000, intervalMs = 10): Promise<Exclude<T, undefined | false>> {
  let expired = false;
  const deadline = setTimeout(() => {
    expired = true;
  }, timeoutMs);
  let lastError: unknown;
  try {
    for (;;) {
      try {
        const value = await probe();
        if (value !== undefined && value !== false) return value as Exclude<T, undefined | false>;
        lastError = undefined;
      } catch (error) {
        lastError = error;
      }
      if (expired) {
        const detail = lastError === undefined ? '' : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
        throw new Error(`not within ${timeoutMs} ms${detail}`, { cause: lastError });
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  } finally {
    clearTimeout(deadline);
  }
}

/** Which database this run of the suite is on: `pglite`, or the PostgreSQL URL the config found. */
export const TEST_DATABASE = process.env.LATCHKEY_TEST_DATABASE ?? 'pglite';
export const onPostgres = TEST_DATABASE !== 'pglite';

export interface TestDatabase extends DatabaseHandle {
  /** A PostgreSQL URL that reaches this same database (and schema), for other processes. */
  url: string | undefined;
}

/** The URL of a schema of its own on the test PostgreSQL server. */
function schemaUrl(base: string, schema: string): string {
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

/**
 * A fresh, empty database for one test file: a schema of its own on the process's PGlite, or on
 * PostgreSQL (dropped on close), so that files run in parallel without seeing each other.
 */
export async function emptyTestDatabase(): Promise<TestDatabase> {
  if (!onPostgres) return { ...(await pgliteSchema()).database, url: undefined };
  const schema = `lk_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = schemaUrl(TEST_DATABASE, schema);
  const handle = await createDatabase({ kind: 'postgres', url });
  return {
    ...handle,
    url,
    async close() {
      await handle.close();
      const cleanup = new pg.Client({ connectionString: TEST_DATABASE });
      await cleanup.connect();
      await cleanup.query(`drop schema if exists ${schema} cascade`);
      await cleanup.end();
    },
  };
}

export async function migratedTestDatabase(): Promise<TestDatabase> {
  if (!onPostgres) return { ...(await migratedPGliteSchema()), url: undefined };
  const database = await emptyTestDatabase();
  await migrateToLatest(database.db);
  return database;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  logger?: Logger;
  /** `manual` (default) stands still at 2026-01-01 until advanced; `shifted` follows real time plus what was advanced. */
  clock?: 'manual' | 'shifted';
  /** Which tRPC HTTP handler the served app uses (default: the server's default, `fast`). */
  trpcAdapter?: 'fast' | 'standard';
  /** tRPC's batching options for both handlers (default: the server's). */
  trpcBatching?: { allowBatching?: boolean; maxBatchSize?: number };
}

export interface TestApp extends App {
  clock: TestClock;
  mails: TestKit['mails'];
  /** A caller as from a client at `ip` with the given access token. */
  caller(request?: Partial<RequestInfo> & { accessToken?: string }): Caller;
}

/** The real application on a shared, already migrated test database: the test kit, on the suite's database. */
export async function testApp(database: DatabaseHandle, options: TestAppOptions = {}): Promise<TestApp> {
  const kit = await createTestKit({
    database,
    ...(options.env && { env: options.env }),
    ...(options.logger && { logger: options.logger }),
    ...(options.clock === 'shifted' && { clock: new ShiftedClock() }),
  });
  return { ...kit.app, clock: kit.clock, mails: kit.mails, caller: (request = {}) => kit.callerFor(request), close: () => kit.close() };
}

/** A typed tRPC client of the server at `baseUrl`, sending `Bearer <accessToken()>` when there is one. */
export function trpcClient(
  baseUrl: string,
  accessToken?: () => string | undefined,
  { batch = true }: { batch?: boolean } = {},
): TRPCClient<AppRouter> {
  const options = {
    url: `${baseUrl}/trpc`,
    transformer: superjson,
    headers: () => {
      const token = accessToken?.();
      return token ? { authorization: `Bearer ${token}` } : {};
    },
  };
  // Never more calls in one request than the server takes by default (MAX_BATCH_SIZE).
  const link = batch ? httpBatchLink({ ...options, maxItems: DEFAULT_MAX_BATCH_SIZE }) : httpLink(options);
  return createTRPCClient<AppRouter>({ links: [link] });
}

export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
}

export interface ServedApp extends TestApp {
  url: string;
  http: HttpServer;
  /** Every request the server has logged, in order (when no logger of the caller's was given). */
  requests: RequestLogEntry[];
  client(accessToken?: () => string | undefined, options?: { batch?: boolean }): TRPCClient<AppRouter>;
}

/** The test app behind the real HTTP server, on a free port of 127.0.0.1. */
export async function servedApp(database: DatabaseHandle, options: TestAppOptions = {}): Promise<ServedApp> {
  const requests: RequestLogEntry[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as Partial<RequestLogEntry> & { msg?: string };
        if (entry.msg === 'request')
          requests.push({ method: String(entry.method), path: String(entry.path), status: Number(entry.status) });
      }
      done();
    },
  });
  const app = await testApp(database, { logger: createLogger('info', sink), ...options });
  const http = createHttpServer({
    runtime: app,
    database: app.database,
    logger: app.logger,
    ...(options.trpcAdapter && { trpcAdapter: options.trpcAdapter }),
    ...(options.trpcBatching && { trpcBatching: options.trpcBatching }),
  });
  const { port } = await http.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  return {
    ...app,
    url,
    http,
    requests,
    client: (accessToken, options) => trpcClient(url, accessToken, options),
    async close() {
      await http.close(1_000);
      await app.close();
    },
  };
}

let counter = 0;
/** Distinct credentials for each call, so tests sharing a database never collide. */
export function newUser(prefix = 'user') {
  counter += 1;
  const id = `${prefix}${counter}${Math.random().toString(36).slice(2, 8)}`;
  return { username: id, email: `${id}@example.com`, password: `a long passphrase for ${id}` };
}

/** RFC 4648 base32 (the encoding of `auth.mfa.totp.enroll`'s `secret`) to bytes. */
export function fromBase32(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

/**
 * The code an authenticator app shows at `at` (`offsetSteps` 30-second steps away) for a secret,
 * base32 as enrolment returns it or raw bytes: RFC 6238 with SHA-1 and dynamic truncation
 * (RFC 4226 5.3), on node:crypto, independent of the server's otplib. Pass the server's clock
 * (`kit.clock.now()`); a factor accepts each step once.
 */
export function totpCode(secret: string | Uint8Array, at: Date, options: { offsetSteps?: number; digits?: number } = {}): string {
  const digits = options.digits ?? 6;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at.getTime() / 1000 / 30) + (options.offsetSteps ?? 0)));
  const key = typeof secret === 'string' ? fromBase32(secret) : secret;
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = (mac.at(-1) ?? 0) & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits).padStart(digits, '0');
}
