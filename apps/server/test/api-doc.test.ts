import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_DOC_PATH, documentedProcedures, renderApiDoc, routerProcedures } from '../scripts/api-doc.js';
import { createTestKit, type TestKit } from '../src/testing.js';
import { type ServedApp, servedApp } from './helpers/app.js';
import { migratedTestDatabase, onPostgres, type TestDatabase } from './helpers/database.js';

// The reference is generated from code, so it needs checking once, not on every database.
describe.skipIf(onPostgres)('docs/api.md', () => {
  it('is exactly what `pnpm --filter @latchkey/server docs:api` generates (regenerate and commit after a change)', () => {
    expect(readFileSync(API_DOC_PATH, 'utf8')).toBe(renderApiDoc());
  });

  describe('against the running server', () => {
    let database: TestDatabase;
    let server: ServedApp;
    let kit: TestKit;
    beforeAll(async () => {
      database = await migratedTestDatabase();
      server = await servedApp(database);
      kit = await createTestKit();
    });
    afterAll(async () => {
      await kit?.close();
      await server?.close();
      await database?.close();
    });

    it('lists every operation of the served /openapi.json, and no other route', async () => {
      const document = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
      const served = Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
      const listed = [...readFileSync(API_DOC_PATH, 'utf8').matchAll(/^\| `((?:GET|POST|PUT|PATCH|DELETE) \/\S*)`\s+\|/gm)].map(
        (m) => m[1],
      );
      expect(listed.sort()).toEqual(served.sort());
    });

    it("documents each procedure's access as it behaves: without a token, exactly the signed-in and admin ones answer ACCESS_TOKEN_MISSING", async () => {
      const docs = documentedProcedures();
      for (const [path] of routerProcedures()) {
        // The caller is a proxy of the router's paths, nested as deep as they are (admin.users.list).
        const call = path.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], kit.caller) as
          | ((input: unknown) => Promise<unknown>)
          | undefined;
        if (typeof call !== 'function') throw new Error(`no caller for ${path}`);
        const appCode = await call(undefined).then(
          () => undefined,
          (error: { cause?: { appCode?: string } }) => error.cause?.appCode,
        );
        expect({ path, missingToken: appCode === 'ACCESS_TOKEN_MISSING' }).toEqual({
          path,
          missingToken: docs[path]?.access !== 'public',
        });
      }
    });
  });
});
