#!/usr/bin/env node
/**
 * The `latchkey` command of an installed @latchkey/server (`npx latchkey start`): runs the
 * compiled server. Configuration comes from the environment, as for `pnpm start`.
 */
const USAGE = `Usage: latchkey <command>

  start        run the server (PORT, DATABASE_URL, JWT_SECRET, ... from the environment)
  migrate      bring the database's schema up to date, then exit
  admin:grant <email>  give a registered user the admin role (on the embedded database, stop the server first)
`;

const [command] = process.argv.slice(2);
switch (command) {
  case 'start':
    await import('../dist/main.js');
    break;
  case 'migrate':
    await import('../dist/migrate.js');
    break;
  case 'admin:grant':
    await import('../dist/admin-grant-cli.js');
    break;
  case 'help':
  case '--help':
  case '-h':
    process.stdout.write(USAGE);
    break;
  default:
    process.stderr.write(command === undefined ? USAGE : `latchkey: unknown command "${command}"\n\n${USAGE}`);
    process.exitCode = 64;
}
