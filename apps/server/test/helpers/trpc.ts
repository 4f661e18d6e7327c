/**
 * POSTs a tRPC mutation over plain fetch, as a client without the SDK would: one call, not
 * batched, its input in superjson's `{ "json": ... }` envelope. For what the typed client hides:
 * status codes, headers, the raw error body.
 */
export function trpcPost(baseUrl: string, path: string, input: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseUrl}/trpc/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ json: input }),
  });
}
