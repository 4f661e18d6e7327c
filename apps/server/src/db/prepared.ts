/**
 * The few statements the server runs on every request (user.me's two queries, refresh's UPDATE), sent
 * to PostgreSQL as named statements: parsed and planned once per connection, not on every call
 * (pgbench here: 1.5 x the rate of the same UPDATE sent unnamed). Everything else goes unnamed,
 * so that a connection's statement cache stays a handful of entries.
 *
 * Named statements live in a server connection, so they are used only where a connection is
 * ours for as long as the pool keeps it: not through a transaction-mode pooler (PgBouncer,
 * Supavisor), which hands each transaction to whichever connection is free. The server knows
 * when it is behind one: DATABASE_LISTEN_URL is set (LISTEN must then go around the pooler, and
 * without it the server does not start, see revocations.ts). See `createDatabase`.
 */
import { createHash } from 'node:crypto';

const names = new Map<string, string>();

/** Marks a statement's SQL as one to prepare, and returns it. */
export function prepared(text: string): string {
  if (!names.has(text)) names.set(text, `latchkey_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`);
  return text;
}

/** The name a statement is prepared under, or undefined when it is sent unnamed. */
export function statementName(text: string): string | undefined {
  return names.get(text);
}
