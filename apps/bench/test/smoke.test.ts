/**
 * The harness works end to end: every scenario for one second, on the embedded database, through
 * the real CLI. Structure only (numbers present and positive, baselines present, the refresh
 * rotation accepted): benchmarks are not tests, and nothing here depends on how fast anything is.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Report } from '../src/report.js';

const BENCH = join(import.meta.dirname, '..');

function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      cwd: BENCH,
      // Embedded even where CI provides PostgreSQL: the test is about the harness, not the database.
      env: { ...process.env, DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('pnpm bench', () => {
  it('runs every scenario against the embedded database and reports Latchkey beside its baselines', async () => {
    const args = ['--embedded', '--json', '--duration', '1', '--runs', '1', '--warmup', '0', '--connections', '2', '--bcrypt-cost', '4'];
    const { code, stdout, stderr } = await bench(args);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as Report;

    expect(report.database).toMatch(/PGlite/);
    expect(report.versions.database).toMatch(/^PGlite /);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.versions.packages.autocannon).toMatch(/^\d+\.\d+\.\d+$/);
    expect(report.versions.packages['better-auth']).toMatch(/^1\.\d+\.\d+$/);
    expect(report.command).toBe(`pnpm bench ${args.join(' ')}`);
    // better-auth runs on PostgreSQL only: on PGlite its scenario is left out, and the target says why.
    // The adapter row needs a second server on the same database: PostgreSQL only.
    expect(report.scenarios.map((s) => s.name)).toEqual(['me', 'me-floor', 'refresh', 'login', 'flood', 'ceiling']);
    expect(report.targets.find((t) => t.target.includes('floor'))?.met).toBeDefined();
    expect(report.targets.find((t) => t.target.includes('better-auth'))?.target).toMatch(/not rerun here: needs PostgreSQL/);

    for (const scenario of report.scenarios) {
      const sides = scenario.name === 'ceiling' ? [scenario.baseline] : [scenario.latchkey, scenario.baseline];
      for (const side of sides) {
        expect(side, scenario.name).toBeDefined();
        expect(side?.runs).toHaveLength(1);
        expect(side?.runs[0]?.ok, scenario.name).toBeGreaterThan(0);
        expect(side?.rps.median, scenario.name).toBeGreaterThan(0);
        expect(side?.p99.median, scenario.name).toBeGreaterThanOrEqual(side?.p50.median ?? Number.NaN);
      }
      if (scenario.name !== 'ceiling') expect(scenario.ratio, scenario.name).toBeGreaterThan(0);
    }
    expect(report.scenarios.find((s) => s.name === 'ceiling')?.latchkey).toBeUndefined();

    // Every refresh presented a live token: successors replaced the tokens they rotated.
    const refresh = report.scenarios.find((s) => s.name === 'refresh');
    for (const side of [refresh?.latchkey, refresh?.baseline]) {
      expect(side?.runs[0]).toMatchObject({ non2xx: 0, errors: 0, timeouts: 0 });
    }

    expect(report.targets.map((t) => t.target)).toHaveLength(7);
    for (const target of report.targets) expect([true, false, undefined]).toContain(target.met);
  });

  it('refuses unknown options with the usage', async () => {
    const { code, stderr } = await bench(['--no-such-option']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--duration <s>/);
  });
});
