/**
 * Administration: who may administer (role `admin`), and what they may do to other accounts:
 * look at them, disable and enable them, end their sessions, change their role. Every change
 * needs a recent proof of identity and is recorded with the admin as its actor, in the change's
 * transaction. A refusal for not being an admin comes before the target is looked at, so it never
 * tells whether that user exists.
 */
import type { Db } from '../../db/database.js';
import type { UserRow } from '../../db/schema.js';
import type { Clock } from '../../lib/clock.js';
import { AppError } from '../../lib/errors.js';
import { queueAccountStatusMail } from '../account/account-mail.js';
import type { ActorKind, AuditService, EventClient, Role, SecurityEventType } from '../audit/audit.service.js';
import type { MfaService } from '../mfa/mfa.service.js';
import type { Authenticated, SessionInfo, SessionService } from '../session/session.service.js';
import type { UserService } from '../user/user.service.js';

/** A user as an admin sees them. */
export interface AdminUser {
  id: string;
  email: string;
  username: string;
  role: Role;
  emailVerified: boolean;
  disabledAt: Date | null;
  createdAt: Date;
}

export interface AdminUserListEntry extends AdminUser {
  lastSignInAt: Date | null;
  sessionCount: number;
}

export interface AdminDeps {
  db: Db;
  clock: Clock;
  users: UserService;
  sessions: SessionService;
  audit: AuditService;
  /** The recent-proof rule, which knows whether the admin has a second factor. */
  mfa: Pick<MfaService, 'requireRecentProof'>;
  mailQueued: () => void;
}

function adminUser(row: UserRow): AdminUser {
  return {
    id: row.id,
    email: row.email,
    username: row.username,
    role: row.role,
    emailVerified: row.email_verified_at !== null,
    disabledAt: row.disabled_at,
    createdAt: row.created_at,
  };
}

const NO_CLIENT: EventClient = { ip: undefined, userAgent: undefined };

/** Who changes a role: an admin in a session, or the operator's command line (the system). */
export type RoleChanger = { kind: 'admin'; auth: Authenticated } | { kind: 'system' };

export function createAdminService(deps: AdminDeps) {
  const { db, clock, users, sessions, audit, mfa, mailQueued } = deps;

  /** ADMIN_ONLY unless the signed-in user is an enabled admin (also when their account is gone). */
  async function requireAdmin(auth: Pick<Authenticated, 'userId'>): Promise<void> {
    const me = await users.findById(auth.userId);
    if (me?.role !== 'admin' || me.disabled_at !== null) throw new AppError('ADMIN_ONLY');
  }

  /**
   * The target of a change, locked in `trx`; never the acting admin themself. Every admin row is
   * locked first, in one order (as changeRole does), and the actor checked again under those
   * locks: two admins disabling each other at once are decided one after the other, and the
   * second, disabled by then, is refused.
   */
  async function target(trx: Db, auth: Authenticated, userId: string, refuseSelf: boolean): Promise<UserRow> {
    if (refuseSelf && userId === auth.userId) throw new AppError('ADMIN_SELF_CHANGE');
    const admins = await users.lockAdmins(trx);
    const actor = admins.includes(auth.userId) ? await users.findById(auth.userId, trx) : undefined;
    if (!actor || actor.disabled_at !== null) throw new AppError('ADMIN_ONLY');
    const row = await users.lock(userId, trx);
    if (!row) throw new AppError('USER_NOT_FOUND');
    return row;
  }

  const actorOf = (auth: Authenticated) => ({ kind: 'admin' as ActorKind, id: auth.userId });
  const event = (auth: Authenticated, client: EventClient) => ({ actor: actorOf(auth), sessionId: auth.sessionId, client });

  /**
   * Sets a role in `trx`, refusing to leave no admin, and records it (nothing when the role is
   * already that). Every admin row is locked first, always in one order, then the target's: two
   * admins demoting each other at once are decided one after the other, the second seeing the first.
   */
  async function changeRole(trx: Db, userId: string, role: Role, by: RoleChanger, client: EventClient | undefined) {
    const admins = await users.lockAdmins(trx);
    // `admins` holds the enabled ones only: an admin disabled while this waited for the locks is refused.
    if (by.kind === 'admin' && !admins.includes(by.auth.userId)) throw new AppError('ADMIN_ONLY');
    const row = await users.lock(userId, trx);
    if (!row) throw new AppError('USER_NOT_FOUND');
    if (row.role === role) return row;
    // A backstop: no caller can demote itself, so only a concurrent change could get here. Only an
    // enabled admin counts: demoting the last one would leave nobody to administer.
    if (row.role === 'admin' && admins.filter((id) => id !== row.id).length === 0) throw new AppError('LAST_ADMIN');
    const updated = await users.write(row.id, { role, updated_at: clock.now() }, trx);
    const who = by.kind === 'admin' ? event(by.auth, client ?? NO_CLIENT) : { actor: { kind: 'system' as const, id: null }, client };
    await audit.record(trx, { type: 'admin.role_changed', userId: row.id, ...who, details: { from: row.role, to: role } });
    return updated;
  }

  return {
    requireAdmin,

    async listUsers(input: { query?: string | undefined; cursor?: string | undefined; limit?: number | undefined }) {
      const limit = input.limit ?? 20;
      const rows = await users.list({ query: input.query?.trim(), afterEmail: input.cursor, limit: limit + 1 });
      const page = rows.slice(0, limit);
      const ids = page.map((row) => row.id);
      const [counts, lastSignIns] = await Promise.all([sessions.countLive(ids), audit.lastSignIns(ids)]);
      const last = page.at(-1);
      return {
        users: page.map(
          (row): AdminUserListEntry => ({
            ...adminUser(row),
            lastSignInAt: lastSignIns.get(row.id) ?? null,
            sessionCount: counts.get(row.id) ?? 0,
          }),
        ),
        nextCursor: rows.length > limit && last ? last.email.toLowerCase() : null,
      };
    },

    async getUser(userId: string) {
      const row = await users.findById(userId);
      if (!row) throw new AppError('USER_NOT_FOUND');
      const [live, events] = await Promise.all([sessions.list(userId, ''), audit.list({ userId, limit: 50 })]);
      return {
        user: adminUser(row),
        sessions: live.map(({ current: _never, ...session }): Omit<SessionInfo, 'current'> => session),
        events: events.events,
      };
    },

    /** Disables the account: no login, no refresh, every session ended (on every instance within a second). */
    async disable(auth: Authenticated, input: { userId: string; reason: string }, client: EventClient): Promise<AdminUser> {
      await mfa.requireRecentProof(auth);
      const now = clock.now();
      const { row, revoked, changed } = await db.transaction().execute(async (trx) => {
        const current = await target(trx, auth, input.userId, true);
        if (current.disabled_at !== null) return { row: current, revoked: [], changed: false };
        const row = await users.write(current.id, { disabled_at: now, updated_at: now }, trx);
        const revoked = await sessions.revokeWithin(trx, { userId: current.id }, 'user_disabled');
        await audit.record(trx, {
          type: 'user.disabled',
          userId: current.id,
          ...event(auth, client),
          details: { reason: input.reason, sessionsRevoked: revoked.length },
        });
        await queueAccountStatusMail(trx, row, 'disabled', now);
        return { row, revoked, changed: true };
      });
      sessions.revoked(revoked);
      if (changed) mailQueued();
      return adminUser(row);
    },

    /** Enables the account again: login works again; the sessions ended by the disabling stay ended. */
    async enable(auth: Authenticated, input: { userId: string }, client: EventClient): Promise<AdminUser> {
      await mfa.requireRecentProof(auth);
      const now = clock.now();
      const { row, changed } = await db.transaction().execute(async (trx) => {
        const current = await target(trx, auth, input.userId, false);
        if (current.disabled_at === null) return { row: current, changed: false };
        const row = await users.write(current.id, { disabled_at: null, updated_at: now }, trx);
        await audit.record(trx, { type: 'user.enabled', userId: current.id, ...event(auth, client) });
        await queueAccountStatusMail(trx, row, 'enabled', now);
        return { row, changed: true };
      });
      if (changed) mailQueued();
      return adminUser(row);
    },

    async revokeSessions(auth: Authenticated, input: { userId: string }, client: EventClient): Promise<{ revoked: number }> {
      await mfa.requireRecentProof(auth);
      const revoked = await db.transaction().execute(async (trx) => {
        const current = await target(trx, auth, input.userId, false);
        const revoked = await sessions.revokeWithin(trx, { userId: current.id }, 'admin_revoked');
        await audit.record(trx, {
          type: 'admin.sessions_revoked',
          userId: current.id,
          ...event(auth, client),
          details: { count: revoked.length },
        });
        return revoked;
      });
      sessions.revoked(revoked);
      return { revoked: revoked.length };
    },

    async setRole(auth: Authenticated, input: { userId: string; role: Role }, client: EventClient): Promise<AdminUser> {
      await mfa.requireRecentProof(auth);
      // Promoting oneself changes nothing; demoting oneself could leave the server without admins.
      if (input.role !== 'admin' && input.userId === auth.userId) throw new AppError('ADMIN_SELF_CHANGE');
      const row = await db.transaction().execute((trx) => changeRole(trx, input.userId, input.role, { kind: 'admin', auth }, client));
      return adminUser(row);
    },

    /** The operator's way to make the first admin (admin:grant): by address, recorded as the system's doing. */
    async grantByEmail(email: string): Promise<{ user: AdminUser; changed: boolean }> {
      const found = await users.findByEmail(email);
      if (!found) throw new AppError('USER_NOT_FOUND');
      const row = await db.transaction().execute((trx) => changeRole(trx, found.id, 'admin', { kind: 'system' }, undefined));
      return { user: adminUser(row), changed: found.role !== 'admin' };
    },

    listEvents(input: {
      userId?: string | undefined;
      type?: SecurityEventType | undefined;
      since?: Date | undefined;
      cursor?: string | undefined;
      limit?: number | undefined;
    }) {
      return audit.list(input);
    },
  };
}

export type AdminService = ReturnType<typeof createAdminService>;
