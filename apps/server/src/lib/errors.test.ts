import { describe, expect, it } from 'vitest';
import { AppError, unstorableTextError } from './errors.js';

describe('unstorableTextError', () => {
  // The codes PostgreSQL 15 and PGlite give U+0000 in a text parameter (22021) and in jsonb (22P05).
  it.each(['22021', '22P05'])('makes SQLSTATE %s a validation error (400), naming no column or SQL', (code) => {
    const error = unstorableTextError(Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code }));
    expect(error).toBeInstanceOf(AppError);
    expect(error?.appCode).toBe('VALIDATION_FAILED');
    expect(error?.kind).toBe('BAD_REQUEST');
    expect(error?.fields).toEqual({ input: ['may not contain a NUL character'] });
  });

  it.each([{ code: '23505' }, { code: 22021 }, new Error('x'), null, 'text', undefined])('leaves %o alone', (error) => {
    expect(unstorableTextError(error)).toBeUndefined();
  });
});
