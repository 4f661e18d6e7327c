/** `pnpm bench`: see USAGE in options.ts. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOptions, USAGE } from './options.js';
import { BENCH_DIR, killChildren } from './processes.js';
import { formatProfileSummary, mainThreadProfile, summarizeProfile } from './profile.js';
import { renderText, updateResults } from './report.js';
import { runBenchmark } from './run.js';

const args = process.argv.slice(2).filter((arg) => arg !== '--');
let options: ReturnType<typeof parseOptions>;
try {
  options = parseOptions(args);
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killChildren();
    process.exit(130);
  });
}

const command = ['pnpm bench', ...args].join(' ');
const start = Date.now();
const progress = (message: string) => process.stderr.write(`bench [${((Date.now() - start) / 1000).toFixed(1)} s] ${message}\n`);

try {
  const report = await runBenchmark(options, command, progress);
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderText(report));
  if (options.writeResults) {
    const file = join(BENCH_DIR, 'RESULTS.md');
    writeFileSync(file, updateResults(existsSync(file) ? readFileSync(file, 'utf8') : undefined, report));
    progress(`wrote ${file}`);
  }
  if (options.profile) {
    const file = mainThreadProfile(options.profile);
    process.stderr.write(file ? `${formatProfileSummary(summarizeProfile(file))}\n` : `no main-thread profile in ${options.profile}\n`);
  }
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
