import type { Migration } from 'kysely/migration';
import * as usersAndSessions from './2026-11-26T00-00-00_users_and_sessions.js';
import * as throttles from './2026-11-26T01-00-00_throttles.js';
import * as mail from './2026-11-26T02-00-00_mail.js';
import * as reauthentication from './2026-12-02T00-00-00_reauthentication.js';
import * as securityEvents from './2026-12-03T00-00-00_security_events.js';
import * as mfa from './2026-12-04T00-00-00_mfa.js';
import * as passkeys from './2026-12-05T00-00-00_passkeys.js';
import * as identities from './2026-12-06T00-00-00_identities.js';

/**
 * Every migration, by name. Listed statically (rather than read from the folder at run time) so
 * that they work the same under tsx, in a bundle and in tests.
 */
export const migrations: Record<string, Migration> = {
  '2026-11-26T00-00-00_users_and_sessions': usersAndSessions,
  '2026-11-26T01-00-00_throttles': throttles,
  '2026-11-26T02-00-00_mail': mail,
  '2026-12-02T00-00-00_reauthentication': reauthentication,
  '2026-12-03T00-00-00_security_events': securityEvents,
  '2026-12-04T00-00-00_mfa': mfa,
  '2026-12-05T00-00-00_passkeys': passkeys,
  '2026-12-06T00-00-00_identities': identities,
};
