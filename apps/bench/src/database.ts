/**
 * Where the benchmark's server keeps its data: PostgreSQL from DATABASE_URL, else one answering on
 * 127.0.0.1:5432, else the embedded PGlite. On PostgreSQL everything lives in a fresh schema,
 * dropped at the end, reached through `?options=-c search_path=...` as the server's tests do.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { BETTER_AUTH_SCHEMA } from './better-auth.js';

export const SCHEMA = 'latchkey_bench';
export const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';

export type BenchDatabase =
  | { kind: 'postgres'; url: string; description: string; version: string; source: string }
  | { kind: 'embedded'; description: string; version: string; dataDir: string };

export function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 500 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

function withSearchPath(base: string, schema: string): string {
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

/** The URL without its password, for output. */
function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  parsed.search = '';
  return parsed.toString();
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function prepareDatabase(options: { embedded: boolean; pgliteVersion: string }): Promise<BenchDatabase> {
  const given = process.env.DATABASE_URL;
  const base = options.embedded
    ? undefined
    : given?.startsWith('postgres')
      ? given
      : (await reachable('127.0.0.1', 5432))
        ? LOCAL_POSTGRES
        : undefined;
  if (base === undefined) {
    const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-bench-'));
    const why = options.embedded ? '--embedded' : 'no DATABASE_URL and nothing on 127.0.0.1:5432';
    return { kind: 'embedded', dataDir, version: `PGlite ${options.pgliteVersion}`, description: `embedded PGlite (${why})` };
  }
  const version = await withClient(base, async (client) => {
    // A fresh schema each time: no rows, sessions or throttles left by an earlier run.
    await client.query(`drop schema if exists ${SCHEMA} cascade`);
    await client.query(`create schema ${SCHEMA}`);
    const { rows } = await client.query<{ version: string }>(`select current_setting('server_version') as version`);
    return `PostgreSQL ${rows[0]?.version ?? '?'}`;
  });
  const source = base === given ? 'DATABASE_URL' : '127.0.0.1:5432';
  return {
    kind: 'postgres',
    url: withSearchPath(base, SCHEMA),
    version,
    source,
    description: `${version} at ${redact(base)} (from ${source}), schema ${SCHEMA}`,
  };
}

export async function disposeDatabase(database: BenchDatabase): Promise<void> {
  if (database.kind === 'embedded') {
    rmSync(database.dataDir, { recursive: true, force: true });
    return;
  }
  await withClient(database.url, async (client) => {
    await client.query(`drop schema if exists ${SCHEMA} cascade`);
    // Created by baselines/better-auth.ts when its scenario ran.
    await client.query(`drop schema if exists ${BETTER_AUTH_SCHEMA} cascade`);
  }).catch(() => undefined);
}

export async function countSessions(url: string): Promise<number> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ n: string }>('select count(*) as n from sessions');
    return Number(rows[0]?.n ?? 0);
  });
}

/**
 * Adds sessions of the seeded users until the table holds `target` rows: live, never presented
 * (no one holds their tokens), spread over the users, like a busy server's table.
 */
export async function growSessions(url: string, target: number, progress: (message: string) => void): Promise<number> {
  return withClient(url, async (client) => {
    const count = async () => Number((await client.query<{ n: string }>('select count(*) as n from sessions')).rows[0]?.n ?? 0);
    let rows = await count();
    const chunk = 250_000;
    while (rows < target) {
      const add = Math.min(chunk, target - rows);
      await client.query(
        `insert into sessions (id, user_id, generation, rotated_at, created_at, last_used_at, expires_at, absolute_expires_at, user_agent, ip, auth_time)
         select gen_random_uuid(), u.ids[1 + i % array_length(u.ids, 1)], 0, null, now(), now(),
                now() + interval '7 days', now() + interval '30 days', 'latchkey-bench', '127.0.0.1', now()
         from generate_series(1, $1::int) as i, (select array_agg(id) as ids from users) as u`,
        [add],
      );
      rows += add;
      if (target - rows > 0 || add === chunk) progress(`sessions: ${rows.toLocaleString('en-US')} of ${target.toLocaleString('en-US')}`);
    }
    // Fresh statistics, as autovacuum would give a table this size soon after; and the bulk
    // insert's dirty pages written out now, not by a checkpoint during the runs that follow.
    await client.query('vacuum analyze sessions');
    await client.query('checkpoint');
    return count();
  });
}
