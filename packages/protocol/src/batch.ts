/**
 * The most tRPC calls one HTTP request may carry unless the server's MAX_BATCH_SIZE says
 * otherwise: the server refuses a larger batch (400 BATCH_TOO_LARGE) before any call runs, and
 * the SDK's batch link never sends more than this in one request.
 */
export const DEFAULT_MAX_BATCH_SIZE = 10;
