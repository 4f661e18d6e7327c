import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');

/** Static imports and exports of a built file; `import('pg')` (lazy) is not among them. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(dist, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1] ?? '');
}

describe('the built package', () => {
  it('has ES modules and type declarations for each entry of the exports map', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, { types: string; default: string }>;
    };
    expect(Object.keys(manifest.exports)).toEqual(['.', './trpc']);
    for (const entry of Object.values(manifest.exports)) {
      expect(readFileSync(join(root, entry.default), 'utf8')).toMatch(/^export /m);
      expect(readFileSync(join(root, entry.types), 'utf8')).toMatch(/export/);
    }
  });

  it('imports only jose (and @latchkey/protocol, which has no dependencies) at load time, and @trpc/server only from the tRPC entry', () => {
    const files = readdirSync(dist).filter((f) => f.endsWith('.js'));
    const external = (f: string) => importsOf(f).filter((s) => !s.startsWith('.') && s !== '@latchkey/protocol');
    for (const file of files)
      expect(external(file), file).toEqual(file === 'trpc.js' ? ['@trpc/server'] : file === 'verifier.js' ? ['jose'] : []);
    expect(readFileSync(join(dist, 'revocation.js'), 'utf8')).toMatch(/import\('pg'\)/);
  });

  it('verifies a token in a process where pg, tRPC and the server cannot even be resolved', async () => {
    // A resolve hook that makes those modules unresolvable, as in a service that installed only this package.
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-verify-'));
    writeFileSync(
      join(dir, 'hooks.mjs'),
      `export async function resolve(specifier, context, next) {
        if (/^(pg|@trpc\\/|@latchkey\\/server|kysely)/.test(specifier)) throw new Error('blocked: ' + specifier);
        return next(specifier, context);
      }`,
    );
    writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module'; register('./hooks.mjs', import.meta.url);`);
    writeFileSync(
      join(dir, 'main.mjs'),
      `const { createVerifier } = await import(${JSON.stringify(pathToFileURL(join(dist, 'index.js')).href)});
      const claims = await createVerifier({ secret: process.env.SECRET }).verify('Bearer ' + process.env.TOKEN);
      console.log(JSON.stringify(claims));
      await import('pg').then(() => console.log('pg loaded'), (error) => console.log(error.message));`,
    );
    const secret = 'a-secret-of-at-least-thirty-two-bytes!!';
    const userId = randomUUID();
    const token = await new SignJWT({ sid: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setSubject(userId)
      .setIssuer('latchkey')
      .setAudience('latchkey')
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti(randomUUID())
      .sign(new TextEncoder().encode(secret));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', './register.mjs', 'main.mjs'], {
      cwd: dir,
      env: { ...process.env, SECRET: secret, TOKEN: token },
    }).finally(() => rmSync(dir, { recursive: true, force: true }));
    const [claims, pgLine] = stdout.trim().split('\n');
    expect(JSON.parse(claims ?? '')).toMatchObject({ userId });
    expect(pgLine).toBe('blocked: pg');
  });
});
