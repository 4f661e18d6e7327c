import { bearerToken } from '@latchkey/protocol';

/** `Bearer <jwt>` or `Token <jwt>`, read by the server's own rule. */
export { bearerToken } from '@latchkey/protocol';

/**
 * The token in what `verify` was given: an `Authorization` header value or a bare token. A compact
 * JWT never contains whitespace and starts with `eyJ` (its JSON header), so anything with
 * whitespace or starting with a scheme's name is read as a header, by the server's rule; a header
 * of another scheme (`Basic ...`) carries no access token.
 */
export function tokenFrom(input: string | null | undefined): string | undefined {
  if (!input) return undefined;
  if (/\s/.test(input) || /^(?:bearer|token)/i.test(input)) return bearerToken(input);
  return input;
}
