import { mkdirSync } from 'node:fs';
import { PGlite, type PGliteInterface } from '@electric-sql/pglite';
import { Kysely, type PGlite as KyselyPGlite, PGliteDialect, PostgresDialect, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import type { DatabaseConfig } from '../config.js';
import { migrations } from './migrations/index.js';
import { statementName } from './prepared.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

export interface DatabaseHandle {
  db: Db;
  /**
   * For writes that may be lost in a crash (throttle counters): on PostgreSQL a small pool with
   * `synchronous_commit=off`, whose commits do not wait for the WAL flush, so a hot counter row is
   * locked for microseconds, not for a disk write. Elsewhere the same as `db`.
   */
  relaxed: Db;
  kind: DatabaseConfig['kind'];
  /** Answers whether the database can run a query right now, within the timeout. */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

// Timestamps travel as Date in both drivers; bigint counts come back as numbers we can use.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/**
 * What PostgreSQL answers when a connection's prepared statement no longer fits: its result type
 * changed under it (a migration altered a column it returns), it is gone, or the backend already
 * had one of that name (a pooler that does not reset connections). Each is raised before the
 * statement runs, so sending it again unnamed is safe.
 */
const STALE_STATEMENT = new Set(['0A000', '26000', '42P05']);

/**
 * Makes a pool's new client send the statements marked with `prepared()` as named statements
 * (Kysely calls `query(text, values)`); every other statement goes unnamed, as before. A client
 * whose named statement goes stale sends unnamed from then on (pg would never parse that name
 * again on this connection, and every call would fail until the pool closed it).
 */
function sendPreparedByName(client: pg.PoolClient): void {
  const send = client.query.bind(client) as (config: unknown, values?: unknown, callback?: unknown) => unknown;
  let naming = true;
  const query = (config: unknown, values?: unknown, callback?: unknown): unknown => {
    const name =
      naming && callback === undefined && typeof config === 'string' && Array.isArray(values) ? statementName(config) : undefined;
    if (name === undefined) return send(config, values, callback);
    return (send({ name, text: config, values }) as Promise<unknown>).catch((error: unknown) => {
      const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
      if (typeof code !== 'string' || !STALE_STATEMENT.has(code)) throw error;
      naming = false;
      return send(config, values);
    });
  };
  Object.assign(client, { query });
}

export async function createDatabase(
  config: DatabaseConfig,
  /**
   * `prepareStatements` (PostgreSQL; default true): the hot statements as named ones
   * (db/prepared.ts). False when DATABASE_URL may be a transaction-mode pooler.
   */
  { prepareStatements = true }: { prepareStatements?: boolean } = {},
): Promise<DatabaseHandle> {
  if (config.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: config.url, max: 10, connectionTimeoutMillis: 5_000 });
    // An idle client that loses its connection must not crash the process.
    pool.on('error', () => {});
    if (prepareStatements) pool.on('connect', sendPreparedByName);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    // pg lets a URL's own `options` override the config's: add ours to the URL.
    const relaxedUrl = new URL(config.url);
    const options = relaxedUrl.searchParams.get('options');
    relaxedUrl.searchParams.set('options', `${options ? `${options} ` : ''}-c synchronous_commit=off`);
    const relaxedPool = new pg.Pool({ connectionString: relaxedUrl.toString(), max: 4, connectionTimeoutMillis: 5_000 });
    relaxedPool.on('error', () => {});
    const relaxed = new Kysely<Database>({ dialect: new PostgresDialect({ pool: relaxedPool }) });
    return handle(db, 'postgres', relaxed);
  }
  if (config.kind === 'pglite') mkdirSync(config.dataDir, { recursive: true });
  const pglite = await PGlite.create(config.kind === 'pglite' ? config.dataDir : undefined);
  return handle(new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) }), config.kind);
}

/** Wraps an existing PGlite instance, or one schema of it (the test kit's schemas of one shared instance). */
export function databaseFromPGlite(pglite: PGliteInterface | KyselyPGlite): DatabaseHandle {
  return handle(new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) }), 'memory');
}

function handle(db: Db, kind: DatabaseConfig['kind'], relaxed: Db = db): DatabaseHandle {
  let closed = false;
  return {
    db,
    relaxed,
    kind,
    async ping(timeoutMs = 2_000) {
      if (closed) return false;
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        });
        const query = sql`select 1 as ok`.execute(db).then(() => true as const);
        return await Promise.race([query, timeout]);
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      if (relaxed !== db) await relaxed.destroy();
      await db.destroy();
    },
  };
}

/**
 * Brings the schema up to date. Safe to run from several instances at once: Kysely's migrator
 * holds a PostgreSQL advisory lock while it migrates, and tolerates the races of creating its
 * own bookkeeping tables.
 */
export async function migrateToLatest(db: Db): Promise<string[]> {
  // Kysely looks for its bookkeeping tables in every schema unless told which one: name ours, so
  // another schema's tables in the same database (another app, another test) are never mistaken for them.
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  const migrationTableSchema = rows[0]?.schema ?? 'public';
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations }, migrationTableSchema });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
