/** Reading the security event log in tests, and the check that no secret ever reached it. */
import { expect } from 'vitest';
import type { Db } from '../../src/db/database.js';
import type { SecurityEventRow } from '../../src/db/schema.js';

export async function eventsOf(db: Db, userId: string): Promise<SecurityEventRow[]> {
  return db.selectFrom('security_events').selectAll().where('user_id', '=', userId).orderBy('id').execute();
}

/** The one event of this type for this user (fails when there are none or several). */
export async function onlyEvent(db: Db, userId: string, type: string): Promise<SecurityEventRow> {
  const events = (await eventsOf(db, userId)).filter((event) => event.type === type);
  expect(events.map((event) => event.type)).toEqual([type]);
  return events[0] as SecurityEventRow;
}

export async function eventsOfRequest(db: Db, requestId: string): Promise<SecurityEventRow[]> {
  return db.selectFrom('security_events').selectAll().where('request_id', '=', requestId).orderBy('id').execute();
}

/**
 * Every secret a suite used (passwords, access, refresh and device tokens, link tokens), looked
 * for in the whole table as text: none may be in any column of any event.
 */
export async function expectNoSecretsInLog(db: Db, secrets: Iterable<string>): Promise<void> {
  const rows = await db.selectFrom('security_events').selectAll().execute();
  expect(rows.length).toBeGreaterThan(0);
  const text = JSON.stringify(rows);
  const list = [...new Set(secrets)].filter((secret) => secret.length >= 8);
  expect(list.length).toBeGreaterThan(0);
  expect(list.filter((secret) => text.includes(secret))).toEqual([]);
}
