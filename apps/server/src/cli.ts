/**
 * `node dist/cli.js <command>` once built, for where neither pnpm nor the `latchkey` bin is at hand
 * (a container holding only `dist`): the operator's commands. Today one, `admin:grant <email>`
 * (admin-grant-cli.ts); `start` and `migrate` are `node dist/main.js` and `node dist/migrate.js`.
 */
const USAGE = 'Usage: node dist/cli.js admin:grant <email>\n';

const [command] = process.argv.slice(2);
if (command === 'admin:grant') {
  // It reads the subcommand and the address from argv itself.
  await import('./admin-grant-cli.js');
} else {
  process.stderr.write(command === undefined ? USAGE : `cli: unknown command "${command}"\n${USAGE}`);
  process.exit(2);
}
