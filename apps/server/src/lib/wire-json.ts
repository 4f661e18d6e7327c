/**
 * superjson's `serialize`, with a shortcut for what the hot procedures answer: plain objects of
 * strings, booleans, null, finite numbers, valid Dates and nested plain objects of the same
 * (a refresh's tokens, user.me's user). For those it builds, in one walk, the very output
 * superjson builds (the same `json`, the same `meta.values` in the same order, the same `v`);
 * anything else (arrays, Maps, undefined, NaN, -0, an invalid Date, a key that superjson would
 * escape, a class instance, an object or Date met twice, which superjson records as one) goes to
 * superjson itself. superjson's walk costs about 3 µs for a
 * refresh's answer; wire-json.test.ts compares both on every shape it takes and many it declines.
 */
import superjson, { type SuperJSONResult } from 'superjson';

/** Keys superjson writes into a path as they are: no dot, no backslash, nothing it escapes. */
const PLAIN_KEY = /^[A-Za-z][A-Za-z0-9_]*$/;

type Json = string | number | boolean | null | { [key: string]: Json };

/** The JSON of a value and its Date paths, or undefined when the shortcut does not apply. */
function walk(value: unknown, path: string, dates: string[], seen: object[], depth: number): Json | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0) ? value : undefined;
  if (typeof value !== 'object' || depth > 4 || seen.includes(value)) return undefined;
  seen.push(value);
  const proto = Object.getPrototypeOf(value);
  if (proto === Date.prototype) {
    const time = (value as Date).getTime();
    if (!Number.isFinite(time)) return undefined;
    dates.push(path);
    return (value as Date).toISOString();
  }
  if (proto !== Object.prototype || Object.getOwnPropertySymbols(value).length > 0) return undefined;
  const out: { [key: string]: Json } = {};
  for (const key of Object.keys(value)) {
    if (!PLAIN_KEY.test(key)) return undefined;
    const json = walk((value as Record<string, unknown>)[key], path === '' ? key : `${path}.${key}`, dates, seen, depth + 1);
    if (json === undefined) return undefined;
    out[key] = json;
  }
  return out;
}

export function serialize(value: unknown): SuperJSONResult {
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    const dates: string[] = [];
    const json = walk(value, '', dates, [], 0);
    if (json !== undefined) {
      if (dates.length === 0) return { json };
      const values: Record<string, ['Date']> = {};
      for (const path of dates) values[path] = ['Date'];
      return { json, meta: { values, v: 1 } } as SuperJSONResult;
    }
  }
  return superjson.serialize(value);
}
