import { describe, expect, it } from 'vitest';
import type { Sample } from '../src/load.js';
import type { ScenarioResult } from '../src/scenarios.js';
import { summarize } from '../src/stats.js';
import { evaluateTargets } from '../src/targets.js';

const side = (rps: number) => summarize([{ rps, p50: 10, p99: 20, ok: rps, non2xx: 0, errors: 0, timeouts: 0 } satisfies Sample]);

function scenario(name: string, latchkey: number, baseline: number): ScenarioResult {
  return {
    name,
    title: name,
    request: '',
    baselineLabel: '',
    latchkey: side(latchkey),
    baseline: side(baseline),
    ratio: latchkey / baseline,
    notes: [],
  };
}

const betterAuthTarget = (results: ScenarioResult[], skipped: Record<string, string> = {}) =>
  evaluateTargets(results, skipped).find((t) => t.target.includes('better-auth'));

describe('the better-auth target', () => {
  it('uses the better-auth req/s of the same run, against the user.me measured beside it', () => {
    const target = betterAuthTarget([scenario('me', 3_000, 3_000), scenario('better-auth', 2_000, 500)]);
    expect(target?.target).toMatch(/same run, same PostgreSQL/);
    expect(target?.measured).toBe('2,000 req/s / 500 req/s = 4.00 x');
    expect(target?.met).toBe(false);
  });

  it("falls back to issue 8's recorded 770 req/s only when better-auth did not run, saying why", () => {
    const target = betterAuthTarget([scenario('me', 3_850, 3_000)], { 'better-auth': 'not run: needs PostgreSQL' });
    expect(target?.target).toBe('user.me >= 5 x better-auth get-session (770 req/s in issue 8, not rerun here: needs PostgreSQL)');
    expect(target?.measured).toBe('3,850 req/s = 5.00 x');
    expect(target?.met).toBe(true);
  });
});

describe('the floor target', () => {
  const floorTarget = (results: ScenarioResult[]) => evaluateTargets(results).find((t) => t.target.includes('floor'));

  it("reports user.me's ratio to the floor on every run that measured it", () => {
    const target = floorTarget([scenario('me', 3_000, 3_000), scenario('me-floor', 3_000, 6_000)]);
    expect(target?.measured).toBe('0.50 x');
    expect(target?.met).toBe(false);
  });

  it('says the floor was not run when user.me was not', () => {
    expect(floorTarget([])?.met).toBeUndefined();
  });
});
