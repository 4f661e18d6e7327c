#!/usr/bin/env node
/**
 * Makes a package's `dist/` self-contained after `tsc`, so that its tarball (`pnpm pack`) needs
 * nothing but the dependencies its manifest declares. Run from the package's folder:
 *
 *   node ../../scripts/package-dist.mjs [--copy src/file.mjs]... [--vendor @latchkey/x]... [--router @latchkey/server]
 *     [--router-alias server-package=package]...
 *
 * --copy    copies a file tsc does not emit (a plain-JavaScript worker) from src/ into dist/.
 * --vendor  copies a private workspace package's built dist into dist/vendor/<name>/ and rewrites
 *           every import of it in dist (JavaScript and declarations) to the copy: the workspace's
 *           `@latchkey/protocol` is never published, each package that needs it ships it.
 * --router  writes dist/vendor/<name>/router.d.ts: the server's `AppRouter` type with only the
 *           types its procedures name (User, Session, ...) and its context erased to `object` (a
 *           client never sees the context, and the context's type reaches every server module and
 *           its database driver). Imports of that package in dist's declarations point at it.
 * --router-alias  in that router.d.ts, takes the types the router names from a server-side
 *           package from another one instead, which must be a dependency of this package and
 *           declare the very same types (`@simplewebauthn/server=@simplewebauthn/browser`: the
 *           two ship identical copies of the WebAuthn JSON types; the client's build test checks).
 *
 * Why not a declaration bundler: `tsdown` needs Node 22 (this project supports Node 20), and
 * `rollup-plugin-dts` runs on the TypeScript 5 compiler API, which TypeScript 7 no longer has; a
 * second TypeScript only for that, and the context would still have to be cut by hand. tsc's
 * declaration output is regular (one top-level statement per column-0 line), which is all this reads;
 * anything it does not understand stops the build. The consumer test (test/consumer.test.ts at the
 * repository root) type-checks the result in a project outside the workspace.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const packageDir = process.cwd();
const dist = join(packageDir, 'dist');

function fail(message) {
  process.stderr.write(`package-dist: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const options = { copy: [], vendor: [], router: [], 'router-alias': [] };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]?.replace(/^--/, '');
    const value = argv[i + 1];
    if (!key || !(key in options) || value === undefined)
      fail(`usage: [--copy file] [--vendor package] [--router package] [--router-alias from=to], got ${argv.join(' ')}`);
    options[key].push(value);
  }
  return options;
}

function filesUnder(dir, test) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** The folder of a workspace package this package depends on (through its node_modules link). */
function packageFolder(name) {
  const link = join(packageDir, 'node_modules', ...name.split('/'));
  if (!existsSync(link)) fail(`${name} is not installed in ${packageDir} (declare it in devDependencies)`);
  return realpathSync(link);
}

/** A relative module specifier from `fromFile` to `toFile` (both under dist). */
function specifierFrom(fromFile, toFile) {
  const path = relative(dirname(fromFile), toFile).split(sep).join('/');
  return path.startsWith('.') ? path : `./${path}`;
}

const OWN_FILES = (name) => /\.(js|d\.ts)$/.test(name);
/** Rewrites `from 'name'`, `import 'name'` and `import("name")` in dist (outside target's folder) to `target`. */
function redirect(name, target) {
  const own = dirname(target) + sep;
  const pattern = new RegExp(`((?:\\bfrom|\\bimport)\\s*\\(?\\s*)(['"])${name.replace(/[/.]/g, '\\$&')}\\2`, 'g');
  for (const file of filesUnder(dist, OWN_FILES).filter((f) => !f.startsWith(own))) {
    const text = readFileSync(file, 'utf8');
    const next = text.replace(pattern, (_match, head, quote) => `${head}${quote}${specifierFrom(file, target)}${quote}`);
    if (next !== text) writeFileSync(file, next);
  }
}

/** Bare specifiers a built file imports. */
function bareImports(text) {
  return [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"./][^'"]*)['"]/g)].map((m) => m[1]);
}

function vendor(name) {
  const source = join(packageFolder(name), 'dist');
  if (!existsSync(join(source, 'index.js'))) fail(`${name} is not built: ${source}/index.js is missing`);
  const target = join(dist, 'vendor', name.split('/').pop());
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  // Source maps point at the workspace's sources, which the tarball does not ship.
  cpSync(source, target, { recursive: true, filter: (path) => !path.endsWith('.map') });
  for (const file of filesUnder(target, OWN_FILES)) {
    const text = readFileSync(file, 'utf8').replace(/\n\/\/# sourceMappingURL=.*$/m, '');
    writeFileSync(file, text);
    const outside = bareImports(text).filter((s) => !s.startsWith('node:'));
    if (outside.length) fail(`${name} imports ${outside.join(', ')}: vendoring it would need those as dependencies`);
  }
  redirect(name, join(target, 'index.js'));
}

// ---------------------------------------------------------------------------------------------
// The router's type, with the declarations it names.

/** Top-level statements of a tsc-emitted declaration file, each with its leading comment. */
function statements(text) {
  const result = [];
  let current = [];
  let onlyComment = true;
  for (const line of text.split('\n')) {
    const starts = /^(export |import |declare |interface |type |\/\*\*|\/\/)/.test(line);
    if (starts && current.length && !onlyComment) {
      result.push(current.join('\n'));
      current = [];
      onlyComment = true;
    }
    if (line === '' && !current.length) continue;
    current.push(line);
    if (!/^\s*(\/\*\*|\*|\/\/)/.test(line) && line.trim() !== '') onlyComment = false;
  }
  if (current.length) result.push(current.join('\n'));
  return result;
}

const withoutComments = (text) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
const withoutStrings = (text) => text.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');

/** `{ a, type B, C as D }` -> [[local, imported]] */
function names(list) {
  return list
    .split(',')
    .map((part) => part.trim().replace(/^type\s+/, ''))
    .filter(Boolean)
    .map((part) => {
      const [imported, local = imported] = part.split(/\s+as\s+/);
      return [local, imported];
    });
}

const modules = new Map();
/** What a declaration file declares (interfaces, type aliases), imports and re-exports. */
function moduleOf(file) {
  let parsed = modules.get(file);
  if (parsed) return parsed;
  if (!existsSync(file)) fail(`${file} does not exist`);
  parsed = { declarations: new Map(), imports: new Map(), reexports: new Map(), others: new Set() };
  for (const statement of statements(readFileSync(file, 'utf8'))) {
    const code = withoutComments(statement).trim();
    const declared = code.match(/^(?:export\s+)?(?:declare\s+)?(interface|type|class|function|const|let|enum|namespace)\s+(\w+)/);
    const imported = code.match(/^import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+['"]([^'"]+)['"]/);
    const reexported = code.match(/^export\s+(?:type\s+)?\{([^}]*)\}\s+from\s+['"]([^'"]+)['"]/);
    if (declared?.[1] === 'interface' || declared?.[1] === 'type') parsed.declarations.set(declared[2], statement);
    else if (declared) parsed.others.add(declared[2]);
    else if (imported) for (const [local, name] of names(imported[1])) parsed.imports.set(local, { from: imported[2], name });
    else if (reexported) for (const [local, name] of names(reexported[1])) parsed.reexports.set(local, { from: reexported[2], name });
  }
  modules.set(file, parsed);
  return parsed;
}

const resolveFrom = (file, specifier) => resolve(dirname(file), specifier.replace(/\.js$/, '.d.ts'));

/**
 * Copies the declaration of `name` in `file` (following re-exports) into `out`, with the
 * declarations it names in turn. Bare-package imports are kept as imports.
 */
function collect(file, name, out) {
  const key = `${file}#${name}`;
  if (out.seen.has(key)) return;
  out.seen.add(key);
  const module = moduleOf(file);
  const statement = module.declarations.get(name);
  if (!statement) {
    const via = module.reexports.get(name) ?? module.imports.get(name);
    if (via?.from.startsWith('.')) return collect(resolveFrom(file, via.from), via.name, out);
    if (via) return out.packageImports.add(`import type { ${via.name === name ? name : `${via.name} as ${name}`} } from '${via.from}';`);
    fail(
      `${relative(dist, file)}: ${name} is ${module.others.has(name) ? 'a value, not a type' : 'not declared'}; the router's types must be interfaces or type aliases`,
    );
  }
  const owner = out.names.get(name);
  if (owner && owner !== key) fail(`two types named ${name} (${owner}, ${key}): rename one`);
  out.names.set(name, key);
  const text = inlineImports(file, statement, out);
  out.declarations.push(text);
  const code = withoutStrings(withoutComments(text));
  for (const [identifier] of code.matchAll(/\b[A-Za-z_$][\w$]*\b/g)) {
    if (identifier === name) continue;
    if (module.declarations.has(identifier) || module.imports.has(identifier)) collect(file, identifier, out);
  }
}

/** `import("./x.js").Name` -> `Name`, collecting Name from x. */
function inlineImports(file, text, out) {
  return text.replace(/import\("([^"]+)"\)\.(\w+)/g, (match, specifier, name) => {
    if (!specifier.startsWith('.')) return match;
    collect(resolveFrom(file, specifier), name, out);
    return name;
  });
}

/** `import("from")` / `from 'from'` in a declaration text, for each `from=to` alias, to `to`. */
function aliased(text, aliases) {
  const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  let result = text;
  for (const alias of aliases) {
    const [from, to] = alias.split('=');
    if (!from || !to) fail(`--router-alias takes from=to, got ${alias}`);
    if (!manifest.dependencies?.[to] && !manifest.peerDependencies?.[to]) fail(`--router-alias: ${to} is not a dependency of this package`);
    const pattern = new RegExp(`((?:\\bfrom|\\bimport)\\s*\\(?\\s*)(['"])${from.replace(/[/.]/g, '\\$&')}\\2`, 'g');
    result = result.replace(pattern, (_match, head, quote) => `${head}${quote}${to}${quote}`);
  }
  return result;
}

function routerTypes(name, aliases = []) {
  const server = packageFolder(name);
  const manifest = JSON.parse(readFileSync(join(server, 'package.json'), 'utf8'));
  const file = join(server, manifest.exports?.['.']?.types ?? 'dist/router.d.ts');
  const router = statements(readFileSync(file, 'utf8')).find((s) => /^export declare const appRouter:/m.test(s));
  if (!router || !/export type AppRouter = typeof appRouter;/.test(readFileSync(file, 'utf8')))
    fail(`${file} does not declare appRouter and AppRouter = typeof appRouter`);
  const contexts = router.match(/import\("[^"]+"\)\.Context\b/g) ?? [];
  if (!contexts.length) fail(`${file}: the router's context type was not found`);
  const out = { seen: new Set(), names: new Map(), declarations: [], packageImports: new Set() };
  const body = inlineImports(file, router.replace(/import\("[^"]+"\)\.Context\b/g, 'object'), out);
  const text = aliased(
    [
      `// Generated by scripts/package-dist.mjs from ${name}'s router declarations: the router's type and`,
      '// the types its procedures name. The context is erased (`object`): clients never see it.',
      ...out.packageImports,
      ...out.declarations,
      body,
      'export type AppRouter = typeof appRouter;',
      '',
    ].join('\n'),
    aliases,
  );
  const target = join(dist, 'vendor', name.split('/').pop(), 'router.d.ts');
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text);
  redirect(name, target.replace(/\.d\.ts$/, '.js'));
}

const options = parseArgs(process.argv.slice(2));
if (!existsSync(dist)) fail(`${dist} does not exist: run tsc first`);
for (const file of options.copy) {
  const target = join(dist, relative(join(packageDir, 'src'), join(packageDir, file)));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(join(packageDir, file), target);
}
// The router first: its declarations may import a package vendored next.
for (const name of options.router) routerTypes(name, options['router-alias']);
for (const name of options.vendor) vendor(name);
