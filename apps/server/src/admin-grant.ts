/**
 * `admin:grant <email>`: makes an existing user an admin, on the configured database, and records
 * it in the security event log as the system's doing. How the first admin is made; later ones an
 * admin can make with admin.users.setRole.
 */
import { createApp } from './app.js';
import type { Config } from './config.js';
import { AppError } from './lib/errors.js';
import { emailSchema } from './modules/user/user.schemas.js';

export type GrantOutcome =
  | { ok: true; changed: boolean; userId: string; email: string }
  | { ok: false; reason: 'invalid_email' | 'unknown_user' };

export async function grantAdmin(config: Readonly<Config>, email: string): Promise<GrantOutcome> {
  const parsed = emailSchema.safeParse(email);
  if (!parsed.success) return { ok: false, reason: 'invalid_email' };
  const app = await createApp(config);
  try {
    const { user, changed } = await app.services.admin.grantByEmail(parsed.data);
    return { ok: true, changed, userId: user.id, email: user.email };
  } catch (error) {
    if (error instanceof AppError && error.appCode === 'USER_NOT_FOUND') return { ok: false, reason: 'unknown_user' };
    throw error;
  } finally {
    await app.close();
  }
}

/** What the command prints, and its exit code. */
export function grantReport(outcome: GrantOutcome, email: string): { code: number; text: string } {
  if (outcome.ok)
    return { code: 0, text: outcome.changed ? `${outcome.email} is now an admin.\n` : `${outcome.email} was already an admin.\n` };
  if (outcome.reason === 'invalid_email') return { code: 2, text: `Not an email address: ${JSON.stringify(email)}\n` };
  return { code: 1, text: `No user has the address ${email}: register first, then grant.\n` };
}
