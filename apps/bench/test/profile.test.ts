import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { category, formatProfileSummary, mainThreadProfile, summarizeProfile } from '../src/profile.js';

const dir = mkdtempSync(join(tmpdir(), 'bench-profile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });

describe('CPU profile summary', () => {
  it('names packages, the server own files, node modules and native entries', () => {
    expect(category(frame('visitNode', 'file:///r/node_modules/.pnpm/kysely@0.29.9/node_modules/kysely/dist/esm/x.js'))).toBe('kysely');
    expect(category(frame('f', 'file:///r/node_modules/.pnpm/@trpc+server@11/node_modules/@trpc/server/dist/a.mjs'))).toBe('@trpc/server');
    expect(category(frame('sign', 'file:///r/apps/server/src/lib/jwt.ts'))).toBe('server: lib/jwt.ts');
    expect(category(frame('sign', 'file:///r/apps/server/dist/lib/jwt.js'))).toBe('server: lib/jwt.ts');
    expect(category(frame('emit', 'node:events'))).toBe('node:events');
    expect(category(frame('writev'))).toBe('writev');
  });

  it('shares self time out of busy time, leaving idle out, largest first', () => {
    const file = join(dir, 'CPU.20260101.000000.42.0.001.cpuprofile');
    writeFileSync(
      file,
      JSON.stringify({
        nodes: [
          { id: 1, callFrame: frame('(idle)') },
          { id: 2, callFrame: frame('writev') },
          { id: 3, callFrame: frame('verify', 'file:///r/apps/server/src/lib/jwt.ts', 9) },
        ],
        samples: [1, 2, 3, 3, 3, 1],
        timeDeltas: [1000, 1000, 1000, 1000, 1000, 5000],
      }),
    );
    writeFileSync(join(dir, 'CPU.20260101.000000.42.1.002.cpuprofile'), '{}'); // a worker's: not read
    expect(mainThreadProfile(dir)).toBe(file);
    const summary = summarizeProfile(file);
    expect(summary.busyMs).toBe(4);
    expect(summary.idleShare).toBeCloseTo(0.6);
    expect(summary.byCategory).toEqual([
      { name: 'server: lib/jwt.ts', share: 0.75 },
      { name: 'writev', share: 0.25 },
    ]);
    expect(summary.byFunction[0]).toEqual({ name: 'verify (server: lib/jwt.ts:10)', share: 0.75 });
    expect(formatProfileSummary(summary)).toContain(' 75.0 %  server: lib/jwt.ts');
  });
});
