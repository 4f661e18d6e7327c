/**
 * The test kit as another team gets it (docs/testing.md): the packed @latchkey/server and vitest
 * 4.1 npm-installed into a fresh project outside the repository, and the documented example test
 * run there with `npx vitest run`.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

/** The commands docs/testing.md gives, run here as written (PACKAGES set to a temporary folder). */
export const KIT_PACK_COMMAND = 'pnpm --filter @latchkey/server pack --pack-destination "$PACKAGES"';
export const KIT_INSTALL_COMMAND =
  'npm install --prefer-offline --no-audit --no-fund -D "$PACKAGES/latchkey-server-0.1.0.tgz" vitest@~4.1.12';

function sh(command: string, cwd: string, env: Record<string, string> = {}): string {
  return execFileSync('/bin/sh', ['-c', command], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

let work: string;
let project: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'latchkey-kit-consumer-'));
  project = join(work, 'project');
  const packages = join(work, 'packages');
  cpSync(join(import.meta.dirname, 'kit-project'), project, { recursive: true });
  mkdirSync(join(project, 'test'));
  for (const example of ['auth-flow.test.ts', 'mail-links.test.ts'])
    copyFileSync(join(root, 'apps', 'server', 'examples', example), join(project, 'test', example));
  sh(KIT_PACK_COMMAND, root, { PACKAGES: packages });
  const registry = sh('pnpm config get registry', root).trim();
  sh(KIT_INSTALL_COMMAND, project, { PACKAGES: packages, npm_config_registry: registry, npm_config_update_notifier: 'false' });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed test kit in a project outside the repository', () => {
  it('is installed with the commands docs/testing.md gives', () => {
    const text = readFileSync(join(root, 'docs', 'testing.md'), 'utf8');
    expect(text).toContain(`export PACKAGES="$HOME/latchkey-packages"\n${KIT_PACK_COMMAND}\n`);
    expect(text).toContain(`\n${KIT_INSTALL_COMMAND}\n`);
    // The vitest.config.ts it recommends, and both examples, as the project here has them.
    expect(text).toContain(`\`\`\`ts\n${readFileSync(join(project, 'vitest.config.ts'), 'utf8')}\`\`\`\n`);
    for (const example of ['auth-flow.test.ts', 'mail-links.test.ts'])
      expect(text).toContain(
        `\`\`\`ts\n${readFileSync(join(project, 'test', example), 'utf8')
          .split('\n')
          .slice(1)
          .join('\n')}\`\`\`\n`,
      );
    const installed = createRequire(join(project, 'package.json')).resolve('@latchkey/server/testing');
    expect(realpathSync(installed).startsWith(root)).toBe(false);
    expect(JSON.parse(readFileSync(join(project, 'node_modules', 'vitest', 'package.json'), 'utf8')).version).toMatch(/^4\.1\./);
  });

  it("runs docs/testing.md's examples with npx vitest run, on the compiled kit", () => {
    const output = sh('npx vitest run --reporter=verbose', project, { CI: '1', NO_COLOR: '1' });
    expect(output).toMatch(/a signed-in user reads their profile until the access token expires/);
    expect(output).toMatch(/the verification mail carries the link that verifies the address/);
    expect(output).toMatch(/Tests\s+2 passed/);
  });
});
