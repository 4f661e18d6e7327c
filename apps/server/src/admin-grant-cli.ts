/** `pnpm --filter @latchkey/server admin:grant <email>`, or `latchkey admin:grant <email>`: see admin-grant.ts. */
import { grantAdmin, grantReport } from './admin-grant.js';
import { ConfigError, loadConfig } from './config.js';

// `latchkey admin:grant <email>` (bin/latchkey.js) passes its subcommand along; the script does not.
const args = process.argv.slice(2);
if (args[0] === 'admin:grant') args.shift();
const [email] = args;
if (email === undefined || args.length > 1) {
  process.stderr.write('Usage: admin:grant <email>\n');
  process.exit(2);
}
try {
  const report = grantReport(await grantAdmin(loadConfig(), email), email);
  (report.code === 0 ? process.stdout : process.stderr).write(report.text);
  process.exit(report.code);
} catch (error) {
  process.stderr.write(
    `${error instanceof ConfigError ? error.message : `admin:grant failed: ${error instanceof Error ? error.message : String(error)}`}\n`,
  );
  process.exit(1);
}
