import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fieldErrorsFromIssues, issueField } from './field-errors.js';

const issuesOf = (schema: z.ZodType, value: unknown) => {
  const parsed = schema.safeParse(value);
  if (parsed.success) throw new Error('expected a failure');
  return parsed.error.issues;
};

describe('fieldErrorsFromIssues', () => {
  it('names a field by the last string key of its path, for flat and enveloped inputs alike', () => {
    const flat = z.object({ email: z.email('is invalid') });
    const enveloped = z.object({ user: flat });
    expect(fieldErrorsFromIssues(issuesOf(flat, { email: 'x' }), 'input')).toEqual({ email: ['is invalid'] });
    expect(fieldErrorsFromIssues(issuesOf(enveloped, { user: { email: 'x' } }), 'body')).toEqual({ email: ['is invalid'] });
  });

  it('skips array indices and reports issues about the whole input under the root name', () => {
    expect(fieldErrorsFromIssues(issuesOf(z.object({ tags: z.array(z.string()) }), { tags: ['a', 2] }), 'input')).toEqual({
      tags: [expect.any(String)],
    });
    expect(Object.keys(fieldErrorsFromIssues(issuesOf(z.object({}), 'not an object'), 'body'))).toEqual(['body']);
  });

  it('reads Standard Schema path segments given as { key } objects', () => {
    expect(issueField({ path: [{ key: 'user' }, { key: 'email' }], message: 'm' }, 'input')).toBe('email');
    expect(issueField({ message: 'm' }, 'input')).toBe('input');
  });

  it('keeps each message once, in the order of the issues', () => {
    const issues = [
      { path: ['password'], message: 'is too short' },
      { path: ['password'], message: 'is too common' },
      { path: ['password'], message: 'is too short' },
    ];
    expect(fieldErrorsFromIssues(issues, 'input')).toEqual({ password: ['is too short', 'is too common'] });
  });
});
