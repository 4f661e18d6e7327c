import superjson from 'superjson';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deserializeInput, MAX_INPUT_META_ENTRIES, serialize } from './wire-json.js';

const shared = { a: 1 };
const sharedDate = new Date(5);
class Thing {
  x = 1;
}

/** What the shortcut builds itself. */
const TAKEN: Record<string, unknown> = {
  'a refresh answer': {
    accessToken: 'eyJ.x.y',
    accessTokenExpiresAt: new Date('2026-12-03T18:00:00.123Z'),
    refreshToken: 'AQ_-x',
    refreshTokenExpiresAt: new Date('2026-12-10T18:00:00Z'),
  },
  'a user, nested': {
    user: { id: 'u', email: 'a@b.c', bio: null, emailVerified: true, createdAt: new Date(0), n: 3.5 },
    when: new Date(1),
  },
  'nested dates in key order': { b: { y: new Date(2), x: new Date(3) }, a: new Date(4), c: { d: { e: new Date(6) } } },
  'no dates': { ok: true, count: 0, name: '' },
  'an empty object': {},
  'an empty nested object': { a: {} },
};

/** What it hands to superjson. */
const DECLINED: Record<string, unknown> = {
  'an array': { items: [1, new Date(0)] },
  undefined: { a: undefined },
  NaN: { n: Number.NaN },
  Infinity: { n: Number.POSITIVE_INFINITY },
  'minus zero': { n: -0 },
  'an invalid date': { d: new Date(Number.NaN) },
  'a dotted key': { 'a.b': new Date(0) },
  'a backslash key': { 'a\\b': 1 },
  'a __proto__ key': JSON.parse('{"__proto__": {"x": 1}}'),
  'a numeric key': { 1: new Date(0) },
  'a bigint': { n: 10n },
  'a Map': { m: new Map([[1, 2]]) },
  'a Set': { s: new Set([1]) },
  'a RegExp': { r: /x/ },
  'an Error': { e: new Error('x') },
  'a class instance': { t: new Thing() },
  'an object met twice': { a: shared, b: shared },
  'a Date met twice': { a: sharedDate, b: sharedDate },
  'a null-prototype object': { o: Object.assign(Object.create(null), { a: 1 }) },
  'a symbol key': { [Symbol('s')]: 1, a: 1 },
  'deep nesting': { a: { b: { c: { d: { e: { f: { g: new Date(0) } } } } } } },
  'top-level Date': new Date(0),
  'top-level array': [1, 2],
  'top-level string': 'x',
  'top-level null': null,
  'top-level undefined': undefined,
};

/** The JSON text of a serialisation, or the message it threw. */
function outcome(serializer: (value: unknown) => unknown, value: unknown): string {
  try {
    return JSON.stringify(serializer(value));
  } catch (error) {
    return `threw: ${error instanceof Error ? error.message : String(error)}`;
  }
}

describe('wire-json serialize gives what superjson gives', () => {
  for (const [name, value] of Object.entries({ ...TAKEN, ...DECLINED })) {
    it(name, () => expect(outcome(serialize, value)).toBe(outcome((v) => superjson.serialize(v), value)));
  }
});

describe('the shortcut', () => {
  afterEach(() => vi.restoreAllMocks());

  for (const [name, value] of Object.entries(TAKEN)) {
    it(`takes ${name} without superjson, and superjson reads it back`, () => {
      const spy = vi.spyOn(superjson, 'serialize');
      const text = JSON.stringify(serialize(value));
      expect(spy).not.toHaveBeenCalled();
      expect(superjson.deserialize(JSON.parse(text))).toEqual(value);
    });
  }

  for (const [name, value] of Object.entries(DECLINED)) {
    it(`hands ${name} to superjson`, () => {
      const spy = vi.spyOn(superjson, 'serialize');
      outcome(serialize, value);
      expect(spy).toHaveBeenCalledOnce();
    });
  }
});

describe('deserializeInput', () => {
  it('reads what the SDK sends: an input with a Date or two, or none', () => {
    const input = { since: new Date('2026-12-01T00:00:00Z'), cursor: '12', limit: 5 };
    expect(deserializeInput(JSON.parse(JSON.stringify(superjson.serialize(input))))).toEqual(input);
    expect(deserializeInput({ json: { email: 'a@b.c' } })).toEqual({ email: 'a@b.c' });
  });

  const many = MAX_INPUT_META_ENTRIES + 1;
  const hostile: Record<string, unknown> = {
    'more Dates than the bound': {
      json: Object.fromEntries(Array.from({ length: many }, (_, i) => [`k${i}`, '2020-01-01T00:00:00Z'])),
      meta: { values: Object.fromEntries(Array.from({ length: many }, (_, i) => [`k${i}`, ['Date']])) },
    },
    'more referential equalities than the bound': {
      json: { a: {} },
      meta: { referentialEqualities: { a: Array.from({ length: many }, (_, i) => `b${i}`) } },
    },
    'a bigint': { json: { refreshToken: '1'.repeat(1000) }, meta: { values: { refreshToken: ['bigint'] } } },
    'a bigint, nested': { json: { a: { b: '1' } }, meta: { values: { a: { b: ['bigint'] } } } },
  };
  for (const [name, value] of Object.entries(hostile)) {
    it(`refuses ${name} before superjson reads it`, () => {
      const spy = vi.spyOn(superjson, 'deserialize');
      expect(() => deserializeInput(value)).toThrow(/Input meta/);
      expect(spy).not.toHaveBeenCalled();
      spy.mockRestore();
    });
  }
});
