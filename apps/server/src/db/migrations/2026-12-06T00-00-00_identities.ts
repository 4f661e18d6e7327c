import type { Kysely } from 'kysely';

// Frozen in time: this file must never import application code.
// External identities (OpenID Connect, GitHub): each keyed by (issuer, subject), never by email;
// the sign-in flows in progress (state, nonce and PKCE verifier kept server-side, bound to the
// browser by a cookie); the one-time codes a callback hands the app. A pending sign-in now says
// which first factor it continues (the password, or an external identity).
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema of their own day
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('identities')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    // What the provider said last, for the owner's list (never used to find the account).
    .addColumn('email', 'text')
    .addColumn('email_verified', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_used_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('identities_issuer_subject_idx').on('identities').columns(['issuer', 'subject']).unique().execute();
  await db.schema.createIndex('identities_user_id_idx').on('identities').column('user_id').execute();

  await db.schema
    .createTable('oidc_flows')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    // SHA-256 of the state sent to the provider, and of the cookie that binds the flow to the browser.
    .addColumn('state_digest', 'text', (c) => c.notNull().unique())
    .addColumn('browser_digest', 'text', (c) => c.notNull())
    // A link flow is made signed in (auth.identities.linkStart) and bound to the browser when its
    // single-use ticket opens the start route; until then browser_digest is empty.
    .addColumn('link_ticket_digest', 'text', (c) => c.unique())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    // The signed-in user an identity is being linked to.
    .addColumn('user_id', 'uuid', (c) => c.references('users.id').onDelete('cascade'))
    // The state, nonce and PKCE verifier, sealed (AES-256-GCM) with the flow's id as associated data.
    .addColumn('secrets_sealed', 'text', (c) => c.notNull())
    .addColumn('redirect_to', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('oidc_flows_expires_at_idx').on('oidc_flows').column('expires_at').execute();

  await db.schema
    .createTable('oidc_codes')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('code_digest', 'text', (c) => c.notNull().unique())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // sign_in: a code for auth.exchangeCode, of an identity linked already; link: a code for
    // auth.identities.linkComplete, which only the flow's user can use, of the identity to link.
    .addColumn('purpose', 'text', (c) => c.notNull().defaultTo('sign_in'))
    .addColumn('identity_id', 'uuid', (c) => c.references('identities.id').onDelete('cascade'))
    .addColumn('pending', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('oidc_codes_expires_at_idx').on('oidc_codes').column('expires_at').execute();

  await db.schema
    .alterTable('mfa_challenges')
    .addColumn('first_factor', 'text', (c) => c.notNull().defaultTo('pwd'))
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema of their own day
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('mfa_challenges').dropColumn('first_factor').execute();
  await db.schema.dropTable('oidc_codes').execute();
  await db.schema.dropTable('oidc_flows').execute();
  await db.schema.dropTable('identities').execute();
}
