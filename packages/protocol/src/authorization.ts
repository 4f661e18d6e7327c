/**
 * `Bearer <jwt>` (RFC 6750) or `Token <jwt>` (the tutorial and RealWorld): the scheme in any case,
 * then one token and nothing else. The server and the verifier read the header with this one
 * function, so that a header one accepts the other accepts.
 */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^(?:bearer|token)[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return match?.[1];
}
