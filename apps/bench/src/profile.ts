/**
 * Where the server's CPU time went: a summary of the `--cpu-prof` profile that `--profile <dir>`
 * makes the server write when it exits. Times are self times (a sample counts for the function on
 * top of the stack), as shares of the time the main thread was not idle. Categories are npm
 * packages, the server's own files, node's modules, and the VM's native entries (`writev` is the
 * system call that writes to sockets: PostgreSQL's and the clients'; `(garbage collector)`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  /** Milliseconds the thread ran JavaScript, native code or the GC, and the share of the profile that was idle. */
  busyMs: number;
  idleShare: number;
  /** Self time by category and by function, largest first, as shares of busy time. */
  byCategory: { name: string; share: number }[];
  byFunction: { name: string; share: number }[];
}

/** `kysely`, `@trpc/server`, `server: lib/jwt.ts`, `node:net`, or the native entry's own name. */
export function category(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName || '(native)';
  const pkg = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1]) return pkg[1];
  if (url.startsWith('node:')) return url;
  // The server runs compiled: its dist/lib/jwt.js is src/lib/jwt.ts.
  const own = /apps\/server\/(?:src|dist)\/(.+)$/.exec(url);
  if (own?.[1]) return `server: ${own[1].replace(/\.js$/, '.ts')}`;
  return url.replace(/^.*\//, '');
}

function top(totals: Map<string, number>, busy: number, count: number): { name: string; share: number }[] {
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, time]) => ({ name, share: busy > 0 ? time / busy : 0 }));
}

export function summarizeProfile(file: string, count = 12): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    const frame = frames.get(id);
    if (!frame || frame.functionName === '(idle)') {
      idle += delta;
      return;
    }
    busy += delta;
    const where = category(frame);
    byCategory.set(where, (byCategory.get(where) ?? 0) + delta);
    const name = frame.url ? `${frame.functionName || '(anonymous)'} (${where}:${frame.lineNumber + 1})` : where;
    byFunction.set(name, (byFunction.get(name) ?? 0) + delta);
  });
  return {
    file,
    busyMs: busy / 1000,
    idleShare: busy + idle > 0 ? idle / (busy + idle) : 0,
    byCategory: top(byCategory, busy, count),
    byFunction: top(byFunction, busy, count),
  };
}

/** The main thread's profile in `dir` (thread id 0 in node's file name); workers write their own. */
export function mainThreadProfile(dir: string): string | undefined {
  const files = readdirSync(dir).filter((name) => /^CPU\..*\.\d+\.0\.\d+\.cpuprofile$/.test(name));
  return files.length > 0 ? join(dir, files.sort().at(-1) as string) : undefined;
}

export function formatProfileSummary(summary: ProfileSummary): string {
  const pct = (share: number) => `${(share * 100).toFixed(1).padStart(5)} %`;
  return [
    `CPU profile of the server's main thread: ${summary.file}`,
    `  busy ${(summary.busyMs / 1000).toFixed(1)} s (idle ${pct(summary.idleShare).trim()} of the profile); self time as a share of busy time:`,
    '  by package or file:',
    ...summary.byCategory.map((entry) => `    ${pct(entry.share)}  ${entry.name}`),
    '  by function:',
    ...summary.byFunction.map((entry) => `    ${pct(entry.share)}  ${entry.name}`),
  ].join('\n');
}
