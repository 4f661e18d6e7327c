/** The results as terminal tables, as the generated part of RESULTS.md, or as JSON. */
import type { Machine, Versions } from './environment.js';
import type { Sample } from './load.js';
import type { ScenarioResult } from './scenarios.js';
import { formatNumber as number, type Spread, type Summary } from './stats.js';
import type { Target } from './targets.js';

export interface Report {
  command: string;
  date: string;
  machine: Machine;
  versions: Versions;
  database: string;
  settings: { duration: number; connections: number; runs: number; warmup: number; bcryptCost: number; users: number };
  scenarios: ScenarioResult[];
  targets: Target[];
  seconds: number;
}

const cell = (s: Spread, runs: number) => (runs > 1 ? `${number(s.median)} (${number(s.min)}-${number(s.max)})` : number(s.median));
const verdict = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? 'met' : 'NOT met');

function failures(label: string, summary: Summary | undefined): string | undefined {
  if (!summary) return undefined;
  const total = (key: keyof Sample) => summary.runs.reduce((sum, r) => sum + r[key], 0);
  const parts = [
    [total('non2xx'), 'non-2xx answers'],
    [total('errors'), 'connection errors'],
    [total('timeouts'), 'timeouts'],
  ].filter(([n]) => Number(n) > 0);
  return parts.length ? `${label}: ${parts.map(([n, what]) => `${n} ${what}`).join(', ')} (not counted in req/s)` : undefined;
}

function rows(result: ScenarioResult): string[][] {
  const out: string[][] = [];
  const add = (label: string, s: Summary | undefined) => {
    if (s) out.push([label, cell(s.rps, s.runs.length), cell(s.p50, s.runs.length), cell(s.p99, s.runs.length)]);
  };
  const baseline = result.baselineName ?? 'baseline';
  add('Latchkey', result.latchkey);
  add(baseline, result.baseline);
  if (result.ratio !== undefined) out.push([`Latchkey / ${baseline}`, `${result.ratio.toFixed(2)} x`, '', '']);
  return out;
}

function notes(result: ScenarioResult): string[] {
  return [
    `baseline: ${result.baselineLabel}`,
    ...result.notes,
    failures('Latchkey', result.latchkey),
    failures(result.baselineName ?? 'baseline', result.baseline),
  ].filter((n): n is string => n !== undefined);
}

function header(report: Report): string[] {
  const { machine: m, versions: v, settings: s } = report;
  const packages = Object.entries(v.packages)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ');
  return [
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}; load average ${m.loadBefore} before the run`,
    `database: ${report.database}`,
    `versions: node ${v.node}, ${v.database}; server at ${v.server}; ${packages}`,
    `settings: ${s.runs} runs x ${s.duration} s per side (A B alternating, ${s.warmup} s warm-up), ${s.connections} connections, bcrypt cost ${s.bcryptCost}, ${s.users} accounts; medians (min-max)`,
  ];
}

export function renderText(report: Report): string {
  const lines: string[] = [
    '',
    `Latchkey benchmark (${report.command}, ${report.date}, ${Math.round(report.seconds)} s)`,
    ...header(report),
    '',
  ];
  const titles = ['', 'req/s', 'p50 ms', 'p99 ms'];
  for (const result of report.scenarios) {
    const table = [titles, ...rows(result)];
    const widths = titles.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
    lines.push(`${result.title}`, `  ${result.request}`);
    for (const row of table)
      lines.push(`  ${row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('   ')}`.trimEnd());
    for (const note of notes(result)) lines.push(`  - ${note}`);
    lines.push('');
  }
  lines.push('Targets (issue 8, item 4)');
  for (const t of report.targets) lines.push(`  [${verdict(t.met)}] ${t.target}: ${t.measured}`);
  return `${lines.join('\n')}\n`;
}

/** A Markdown table padded as Biome's formatter pads it, so that `pnpm lint` accepts RESULTS.md as written. */
function markdownTable(head: string[], body: string[][], right: boolean[]): string[] {
  const widths = head.map((h, i) => Math.max(3, h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${widths.map((w, i) => (right[i] ? (cells[i] ?? '').padStart(w) : (cells[i] ?? '').padEnd(w))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (right[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(head), rule, ...body.map(line)];
}

export function renderMarkdown(report: Report): string {
  const lines: string[] = [
    `Produced by \`${report.command}\` on ${report.date} (${Math.round(report.seconds)} s).`,
    '',
    ...header(report).map((line) => `- ${line}`),
    '',
  ];
  for (const result of report.scenarios) {
    lines.push(`### ${result.title}`, '', `\`${result.request}\``, '');
    lines.push(...markdownTable(['', 'req/s', 'p50 ms', 'p99 ms'], rows(result), [false, true, true, true]));
    const extra = notes(result);
    if (extra.length) lines.push('', ...extra.map((n) => `- ${n}`));
    lines.push('');
  }
  lines.push('### Targets (issue 8, item 4)', '');
  const targets = report.targets.map((t) => [t.target, t.measured, verdict(t.met)]);
  lines.push(...markdownTable(['target', 'measured', ''], targets, [false, false, false]));
  return `${lines.join('\n')}\n`;
}

export const RESULTS_BEGIN = '<!-- bench:begin (generated by `pnpm bench --write-results`; edit outside these markers) -->';
export const RESULTS_END = '<!-- bench:end -->';

/** Replaces the generated part of RESULTS.md, keeping whatever people wrote around it. */
export function updateResults(existing: string | undefined, report: Report): string {
  const generated = `${RESULTS_BEGIN}\n\n${renderMarkdown(report)}\n${RESULTS_END}`;
  if (existing?.includes(RESULTS_BEGIN) && existing.includes(RESULTS_END)) {
    const before = existing.slice(0, existing.indexOf(RESULTS_BEGIN));
    const after = existing.slice(existing.indexOf(RESULTS_END) + RESULTS_END.length);
    return `${before}${generated}${after}`;
  }
  return `# Benchmark results\n\nThe latest run of \`pnpm bench\` on this machine. Medians of the runs, (min-max) their spread.\n\n## Latest run\n\n${generated}\n`;
}
