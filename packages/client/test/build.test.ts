import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { browserBundle } from './bundle.js';

const dist = join(import.meta.dirname, '..', 'dist');
const SERVER_ONLY = [
  'kysely',
  'pg',
  '@electric-sql/pglite',
  '@node-rs/bcrypt',
  'jose',
  'pino',
  '@latchkey/server',
  '@latchkey/protocol',
  'zod',
];

/** The packages a file under dist imports (bare specifiers, reduced to the package's name). */
function packagesImportedBy(file: string): string[] {
  const text = readFileSync(join(dist, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, '');
  return [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"./][^'"]*)['"]/g)].map(
    (m) => (m[1] ?? '').match(/^(?:@[^/]+\/)?[^/]+/)?.[0] ?? '',
  );
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(dist, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1] ?? '');
}

describe('the built package', () => {
  it('is ES modules with type declarations for each entry of the exports map', () => {
    const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
      type: string;
      exports: Record<string, { types: string; default: string }>;
    };
    expect(manifest.type).toBe('module');
    for (const entry of Object.values(manifest.exports)) {
      expect(readFileSync(join(import.meta.dirname, '..', entry.default), 'utf8')).toMatch(/^export /m);
      expect(readFileSync(join(import.meta.dirname, '..', entry.types), 'utf8')).toMatch(/export/);
    }
  });

  it('imports no server code and no private package: only the tRPC client, superjson, @simplewebauthn/browser, and node: modules in the node entry', () => {
    const files = readdirSync(dist).filter((f) => f.endsWith('.js'));
    const external = new Set(files.flatMap(importsOf).filter((s) => !s.startsWith('.')));
    for (const name of external)
      expect([
        '@trpc/client',
        '@trpc/server/observable',
        'superjson',
        '@simplewebauthn/browser',
        'node:crypto',
        'node:fs/promises',
        'node:path',
      ]).toContain(name);
    for (const name of SERVER_ONLY) expect(external.has(name)).toBe(false);
    // Only the Node entry touches the file system.
    expect(files.filter((f) => importsOf(f).some((s) => s.startsWith('node:')))).toEqual(['node.js']);
  });

  it("its declarations, the router's included, name only packages its manifest makes installed (no kysely, no server)", () => {
    const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
    };
    const installed = new Set([...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies)]);
    const declarations = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'));
    expect(declarations).toContain(join('vendor', 'server', 'router.d.ts'));
    // A type the router names that reaches a server dependency (a database row typed with
    // kysely's Selectable, say) would be unresolved in a consumer's project: an error under
    // skipLibCheck: false, and `any` otherwise.
    const missing = declarations.flatMap((file) =>
      packagesImportedBy(file)
        .filter((name) => !name.startsWith('node:') && !installed.has(name))
        .map((name) => `${file} imports ${name}`),
    );
    expect(missing).toEqual([]);
  });

  it("names the router's WebAuthn types after @simplewebauthn/browser, whose copies of them are @simplewebauthn/server's, word for word", () => {
    const router = readFileSync(join(dist, 'vendor', 'server', 'router.d.ts'), 'utf8');
    expect(router).not.toContain('@simplewebauthn/server');
    expect(router).toContain('import("@simplewebauthn/browser").PublicKeyCredentialCreationOptionsJSON');
    // The build's --router-alias is only sound while the two packages declare the same types.
    const server = createRequire(join(import.meta.dirname, '..', '..', '..', 'apps', 'server', 'package.json'));
    const client = createRequire(join(import.meta.dirname, '..', 'package.json'));
    const typesOf = (resolve: NodeJS.Require, name: string) =>
      ['index.d.ts', 'dom.d.ts'].map((file) =>
        readFileSync(join(dirname(resolve.resolve(name)), 'types', file), 'utf8').replace(/\/\/# sourceMappingURL=.*$/m, ''),
      );
    expect(typesOf(client, '@simplewebauthn/browser')).toEqual(typesOf(server, '@simplewebauthn/server'));
  });

  it('bundles for the browser with no server module inside', async () => {
    const bundle = await browserBundle();
    expect(bundle).toContain('createAuthClient');
    expect(bundle).not.toMatch(/kysely|pglite|bcrypt|from ["']pg["']|node:fs|jose|pino/i);
  });
});
