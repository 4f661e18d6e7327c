import { join } from 'node:path';
import { build } from 'esbuild';

/** The SDK as a browser would load it: one ES module, everything it imports included. */
export async function browserBundle(): Promise<string> {
  const result = await build({
    entryPoints: [join(import.meta.dirname, '..', 'dist', 'index.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output');
  return file.text;
}
