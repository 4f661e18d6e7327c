import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ManualTimer } from './clock.js';

const SRC = fileURLToPath(new URL('..', import.meta.url));

/** Readings of the real time, which belong in clock.ts alone (`new Date(x)` of a given time is fine). */
const READINGS = [/\bDate\.now\b/, /\bperformance\.now\b/, /\bnew Date\s*\(\s*\)/, /\bnew Date\b(?!\s*\()/];

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(m?js|ts)$/.test(entry.name) ? [path] : [];
  });
}

describe('time is injected', () => {
  it('nothing in src/ but lib/clock.ts reads the real time', () => {
    const offenders = sourceFiles(SRC)
      .filter((path) => relative(SRC, path) !== join('lib', 'clock.ts'))
      .flatMap((path) =>
        readFileSync(path, 'utf8')
          .split('\n')
          .flatMap((line, i) =>
            READINGS.some((reading) => reading.test(line)) ? [`${relative(SRC, path)}:${i + 1}: ${line.trim()}`] : [],
          ),
      );
    expect(offenders).toEqual([]);
  });

  it('the scan finds each reading it forbids, and lets a given time pass', () => {
    const found = (line: string) => READINGS.some((reading) => reading.test(line));
    // Spelled in pieces, or this file would be its own offender.
    const [D, P] = ['Date', 'performance'];
    for (const line of [`const t = ${D}.now();`, `${P}.now()`, `new ${D}()`, `new ${D}( )`, `const d = new ${D};`]) {
      expect(found(line), line).toBe(true);
    }
    for (const line of ['new Date(now.getTime() + 1000)', 'new Date(0)', 'clock.now()', 'timer.nowMs()']) {
      expect(found(line), line).toBe(false);
    }
  });
});

describe('ManualTimer', () => {
  it('calls each timer once, at its own time and earliest first, only when time is moved', () => {
    const timer = new ManualTimer();
    const calls: string[] = [];
    timer.setTimeout(() => calls.push(`b@${timer.nowMs()}`), 20);
    timer.setTimeout(() => calls.push(`a@${timer.nowMs()}`), 10);
    const cleared = timer.setTimeout(() => calls.push('cleared'), 15);
    timer.clearTimeout(cleared);

    timer.advance(9);
    expect(calls).toEqual([]);
    timer.advance(30);
    expect(calls).toEqual(['a@10', 'b@20']);
    expect(timer.nowMs()).toBe(39);
    expect(timer.waiting).toBe(0);
  });

  it('a timer set by a callback falls due within the same advance when its time comes', () => {
    const timer = new ManualTimer();
    const calls: number[] = [];
    timer.setTimeout(() => timer.setTimeout(() => calls.push(timer.nowMs()), 5), 5);

    timer.advance(10);
    expect(calls).toEqual([10]);
  });
});
