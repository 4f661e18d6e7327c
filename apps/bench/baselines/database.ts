/**
 * The database a baseline talks to. On PostgreSQL it is the server's own (DATABASE_URL, same
 * schema, same rows). An embedded PGlite belongs to the one process that opened it, so without
 * DATABASE_URL a baseline gets a PGlite of its own with the same users and sessions: the same kind
 * of database, doing the same statements. It fills it from the seed file whose path arrives as the
 * first line on stdin, so that PGlite starts while the harness is still registering the accounts.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

export interface Queryable {
  query<Row>(text: string, params?: unknown[]): Promise<Row[]>;
}

export interface BaselineDatabase extends Queryable {
  /** BEGIN ... COMMIT on one connection (ROLLBACK when `work` throws). */
  transaction<T>(work: (trx: Queryable) => Promise<T>): Promise<T>;
}

/** The seed file: rows as the server's tables hold them. */
export interface Seed {
  users: { id: string; email: string; username: string; created_at: string }[];
  sessions: { id: string; user_id: string; generation: number; expires_at: string; absolute_expires_at: string }[];
}

/** The columns the baselines read, as the server's first migration declares them. */
const SCHEMA = `
  create table users (
    id uuid primary key, email text not null, username text not null, bio text, image text,
    email_verified_at timestamptz, created_at timestamptz not null
  );
  create table sessions (
    id uuid primary key, user_id uuid not null references users (id) on delete cascade,
    generation integer not null default 0, rotated_at timestamptz, created_at timestamptz not null default now(),
    last_used_at timestamptz not null default now(), expires_at timestamptz not null, absolute_expires_at timestamptz not null,
    revoked_at timestamptz, revoked_reason text, user_agent text, ip text
  );
  create index sessions_user_id_idx on sessions (user_id);
  create index sessions_expires_at_idx on sessions (expires_at);
`;

/**
 * With BASELINE_PREPARE=1, `query` sends each statement that has parameters as a named one
 * (parsed and planned once per connection), as the server sends its per-request statements
 * (apps/server/src/db/prepared.ts); statements in a transaction still go unnamed, as there.
 */
function postgres(url: string, prepare = process.env.BASELINE_PREPARE === '1'): BaselineDatabase {
  // The server's pool size, so that neither side gets more connections than the other.
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', () => {});
  const names = new Map<string, string>();
  const nameOf = (text: string) => {
    let name = names.get(text);
    if (name === undefined) {
      name = `baseline_${names.size}`;
      names.set(text, name);
    }
    return name;
  };
  return {
    async query<Row>(text: string, params?: unknown[]) {
      const result =
        prepare && params?.length ? await pool.query({ name: nameOf(text), text, values: params }) : await pool.query(text, params);
      return result.rows as Row[];
    },
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const result = await work({
          query: async <Row>(text: string, params?: unknown[]) => (await client.query(text, params)).rows as Row[],
        });
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
  };
}

function firstLineOfStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdin });
    lines.once('line', (line) => {
      resolve(line.trim());
      lines.close();
    });
    lines.once('close', () => reject(new Error('stdin closed before the seed file was named')));
  });
}

async function embedded(): Promise<BaselineDatabase> {
  const db = await PGlite.create();
  await db.exec(SCHEMA);
  const seed = JSON.parse(readFileSync(await firstLineOfStdin(), 'utf8')) as Seed;
  await db.query(
    'insert into users (id, email, username, created_at) select id, email, username, created_at from json_populate_recordset(null::users, $1)',
    [JSON.stringify(seed.users)],
  );
  await db.query(
    `insert into sessions (id, user_id, generation, expires_at, absolute_expires_at)
     select id, user_id, generation, expires_at, absolute_expires_at from json_populate_recordset(null::sessions, $1)`,
    [JSON.stringify(seed.sessions)],
  );
  return {
    async query<Row>(text: string, params?: unknown[]) {
      return (await db.query<Row>(text, params)).rows;
    },
    // PGlite is one connection: its transaction() queues the others until this one ends.
    transaction: (work) =>
      db.transaction((trx) => work({ query: async <Row>(text: string, params?: unknown[]) => (await trx.query<Row>(text, params)).rows })),
  };
}

export async function openDatabase(): Promise<BaselineDatabase> {
  return process.env.DATABASE_URL ? postgres(process.env.DATABASE_URL) : embedded();
}
