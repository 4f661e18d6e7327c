import type { Db } from '../../db/database.js';
import type { IdentityRow, OidcCodeRow, OidcFlowPurpose, OidcFlowRow, PendingIdentity } from '../../db/schema.js';

export async function findIdentity(db: Db, issuer: string, subject: string): Promise<IdentityRow | undefined> {
  return db.selectFrom('identities').selectAll().where('issuer', '=', issuer).where('subject', '=', subject).executeTakeFirst();
}

export async function findIdentities(db: Db, userId: string): Promise<IdentityRow[]> {
  return db.selectFrom('identities').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
}

export async function countIdentities(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom('identities')
    .select((eb) => eb.fn.countAll<string | number | bigint>().as('count'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Links an identity; undefined when (issuer, subject) is linked already (to anyone). */
export async function insertIdentity(trx: Db, row: Omit<IdentityRow, 'last_used_at'>): Promise<IdentityRow | undefined> {
  return trx
    .insertInto('identities')
    .values({ ...row, last_used_at: row.created_at })
    .onConflict((oc) => oc.columns(['issuer', 'subject']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

export async function touchIdentity(
  db: Db,
  id: string,
  change: { email: string | null; emailVerified: boolean; now: Date },
): Promise<void> {
  await db
    .updateTable('identities')
    .set({ email: change.email, email_verified: change.emailVerified, last_used_at: change.now })
    .where('id', '=', id)
    .execute();
}

export async function deleteIdentity(trx: Db, userId: string, id: string): Promise<IdentityRow | undefined> {
  return trx.deleteFrom('identities').where('id', '=', id).where('user_id', '=', userId).returningAll().executeTakeFirst();
}

export async function insertFlow(
  db: Db,
  row: {
    id: string;
    stateDigest: string;
    browserDigest: string;
    linkTicketDigest: string | null;
    provider: string;
    purpose: OidcFlowPurpose;
    userId: string | null;
    secretsSealed: string;
    redirectTo: string;
    now: Date;
    expiresAt: Date;
  },
): Promise<void> {
  await db
    .insertInto('oidc_flows')
    .values({
      id: row.id,
      state_digest: row.stateDigest,
      browser_digest: row.browserDigest,
      link_ticket_digest: row.linkTicketDigest,
      provider: row.provider,
      purpose: row.purpose,
      user_id: row.userId,
      secrets_sealed: row.secretsSealed,
      redirect_to: row.redirectTo,
      created_at: row.now,
      expires_at: row.expiresAt,
    })
    .execute();
}

/** Binds a link flow to the browser that opened its ticket, once: undefined when the ticket is unknown, used or expired. */
export async function bindLinkFlow(db: Db, ticketDigest: string, browserDigest: string, now: Date): Promise<OidcFlowRow | undefined> {
  return db
    .updateTable('oidc_flows')
    .set({ browser_digest: browserDigest, link_ticket_digest: null })
    .where('link_ticket_digest', '=', ticketDigest)
    .where('browser_digest', '=', '')
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst();
}

/** Uses up the flow of this state, in one statement: a callback is answered once. Undefined when unknown or used. */
export async function consumeFlow(db: Db, stateDigest: string, now: Date): Promise<OidcFlowRow | undefined> {
  return db
    .updateTable('oidc_flows')
    .set({ used_at: now })
    .where('state_digest', '=', stateDigest)
    .where('used_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

export async function insertCode(
  trx: Db,
  row: { id: string; digest: string; userId: string; now: Date; expiresAt: Date } & (
    | { purpose: 'sign_in'; identityId: string }
    | { purpose: 'link'; pending: PendingIdentity }
  ),
): Promise<void> {
  await trx
    .insertInto('oidc_codes')
    .values({
      id: row.id,
      code_digest: row.digest,
      user_id: row.userId,
      purpose: row.purpose,
      identity_id: row.purpose === 'sign_in' ? row.identityId : null,
      pending: row.purpose === 'link' ? JSON.stringify(row.pending) : null,
      created_at: row.now,
      expires_at: row.expiresAt,
    })
    .execute();
}

/** Uses up a one-time code, in one statement: it is exchanged once. Undefined when unknown, used or expired. */
export async function consumeCode(
  db: Db,
  digest: string,
  purpose: OidcFlowPurpose,
  now: Date,
  /** A link code is only its flow's user's to use (and to use up). */
  userId?: string,
): Promise<OidcCodeRow | undefined> {
  let query = db.updateTable('oidc_codes').set({ used_at: now }).where('code_digest', '=', digest).where('purpose', '=', purpose);
  if (userId !== undefined) query = query.where('user_id', '=', userId);
  return query.where('used_at', 'is', null).where('expires_at', '>', now).returningAll().executeTakeFirst();
}

/** Deletes flows and codes that expired before `before` (the clean-up job). */
export async function deleteExpiredFlows(db: Db, before: Date): Promise<number> {
  const flows = await db.deleteFrom('oidc_flows').where('expires_at', '<', before).executeTakeFirst();
  const codes = await db.deleteFrom('oidc_codes').where('expires_at', '<', before).executeTakeFirst();
  return Number(flows.numDeletedRows) + Number(codes.numDeletedRows);
}
