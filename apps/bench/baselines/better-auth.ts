/**
 * better-auth, for issue 8's "user.me >= 5 x better-auth's get-session": a default install with
 * email and password sign-up, served by node:http through better-auth's own toNodeHandler, on the
 * benchmark's PostgreSQL (DATABASE_URL) in a schema of its own (SCHEMA), which it creates afresh
 * and migrates with better-auth's own migration API before it listens.
 *
 * Session settings are better-auth's defaults: no cookie cache, no secondary storage, so that every
 * get-session verifies the signed cookie and reads the session and its user from PostgreSQL.
 * Two settings are not defaults, both as the harness runs Latchkey: NODE_ENV=production (from the
 * harness), and the rate limiter off, since every request comes from 127.0.0.1 (Latchkey's
 * throttles are scaled out of the way for the same reason).
 */
import { createServer } from 'node:http';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { toNodeHandler } from 'better-auth/node';
import pg from 'pg';
import { listen } from './listen.js';

const base = process.env.DATABASE_URL;
const schema = process.env.SCHEMA ?? 'better_auth_bench';
if (!base?.startsWith('postgres')) throw new Error('the better-auth baseline needs PostgreSQL in DATABASE_URL');
if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`SCHEMA must be a plain identifier (got ${JSON.stringify(schema)})`);

// A fresh schema each start: no users or sessions left by an earlier run.
const admin = new pg.Client({ connectionString: base });
await admin.connect();
await admin.query(`drop schema if exists ${schema} cascade`);
await admin.query(`create schema ${schema}`);
await admin.end();

const url = new URL(base);
url.searchParams.set('options', `-c search_path=${schema}`);
// The server's pool size, so that neither side gets more connections than the other.
const pool = new pg.Pool({ connectionString: url.toString(), max: 10 });
pool.on('error', () => {});

// The harness names the port up front, so that better-auth knows its base URL as a deployment would.
const port = Number(process.env.PORT ?? 0);
const options = {
  ...(port > 0 && { baseURL: `http://127.0.0.1:${port}` }),
  database: pool,
  secret: process.env.BETTER_AUTH_SECRET,
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  // Off by default too; said here so that no environment variable can turn it on mid-run.
  telemetry: { enabled: false },
};

const { runMigrations } = await getMigrations(options);
await runMigrations();

listen(createServer(toNodeHandler(betterAuth(options))), 'better-auth');
