import { describe, expect, it } from 'vitest';
import { bearerToken } from './authorization.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

describe('bearerToken', () => {
  it.each([`Bearer ${JWT}`, `Token ${JWT}`, `bearer ${JWT}`, `TOKEN ${JWT}`, `BeArEr\t${JWT}`, `Bearer   ${JWT} \t`])(
    'reads the token of %j',
    (header) => {
      expect(bearerToken(header)).toBe(JWT);
    },
  );

  it.each([
    undefined,
    null,
    '',
    'Bearer',
    'Bearer ',
    'Token',
    JWT,
    `Basic ${JWT}`,
    `Bearer${JWT}`,
    `Bearer ${JWT} extra`,
    `Bearer ${JWT}\nX-Other: 1`,
    ` Bearer ${JWT}`,
    `Bearer: ${JWT}`,
  ])('finds no token in %j', (header) => {
    expect(bearerToken(header)).toBeUndefined();
  });
});
