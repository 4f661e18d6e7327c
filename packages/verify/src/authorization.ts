/**
 * `Bearer <jwt>` (RFC 6750) or `Token <jwt>` (the tutorial and RealWorld); the scheme is
 * case-insensitive. The same rule as the server's, so that a header one accepts the other accepts.
 */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^(?:bearer|token)[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return match?.[1];
}

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
