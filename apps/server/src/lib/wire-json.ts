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

/**
 * The most entries (array items and object keys, counted through every level) an input's superjson
 * `meta` may hold. No procedure's input needs more than a few (a Date or two); superjson spends
 * about 60 to 80 ms of the event loop on a megabyte of hostile meta (30,000 Dates, 60,000
 * referential equalities, a BigInt of 900,000 digits), so it is bounded before superjson reads it.
 */
export const MAX_INPUT_META_ENTRIES = 256;

/** Throws when `meta` holds more than the bound, or names `bigint` (no input takes one). */
function checkInputMeta(meta: unknown): void {
  let left = MAX_INPUT_META_ENTRIES;
  const stack: unknown[] = [meta];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === 'bigint') throw new Error('Input meta may not name bigint');
    if (typeof node !== 'object' || node === null) continue;
    const children = Array.isArray(node) ? node : Object.values(node);
    left -= children.length;
    if (left < 0) throw new Error(`Input meta may hold at most ${MAX_INPUT_META_ENTRIES} entries`);
    for (const child of children) stack.push(child);
  }
}

/** superjson's `deserialize` for inputs, with their `meta` bounded first. */
export function deserializeInput(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && 'meta' in value) checkInputMeta(value.meta);
  return superjson.deserialize(value as SuperJSONResult);
}
