import type { AppRouter } from '@latchkey/server';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';

// Every shape comes from the server's router: the client declares none of its own.
export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type User = RouterOutputs['user']['me'];
export type SignedIn = RouterOutputs['auth']['login'];
export type Tokens = RouterOutputs['auth']['refresh'];

/** What the client keeps between calls (and, with a persistent storage, between runs). */
export interface StoredSession extends Tokens {
  user: User | null;
}
