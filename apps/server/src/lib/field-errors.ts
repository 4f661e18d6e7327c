/**
 * Per-field messages from a schema's issues, for tRPC's `data.fields` and REST's `errors` alike.
 * A field is named by the last string key of its path: `{ user: { email } }` (REST's envelope)
 * reports `email`, `{ email }` (tRPC's flat inputs) reports `email` too, and an index is never a
 * name (`tags[2]` reports `tags`). An issue about the whole input is reported under `root`.
 */
import type { FieldErrors } from './errors.js';

/** A zod issue, or any Standard Schema issue (whose path segments may be `{ key }` objects). */
export interface SchemaIssue {
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
  readonly message: string;
}

export function issueField(issue: SchemaIssue, root: string): string {
  const keys = (issue.path ?? []).map((segment) => (typeof segment === 'object' ? segment.key : segment));
  return keys.findLast((key): key is string => typeof key === 'string') ?? root;
}

/** Each field's messages in the order of the issues, each message once. */
export function fieldErrorsFromIssues(issues: readonly SchemaIssue[], root: string): FieldErrors {
  const fields: FieldErrors = {};
  for (const issue of issues) {
    const key = issueField(issue, root);
    const messages = fields[key] ?? [];
    if (!messages.includes(issue.message)) messages.push(issue.message);
    fields[key] = messages;
  }
  return fields;
}
