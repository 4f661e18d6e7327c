import { TRPCError } from '@trpc/server';
import type { AppCode } from '../../src/lib/errors.js';

export interface Failure {
  code: string;
  appCode: AppCode | undefined;
  retryAfterSeconds?: number | undefined;
}

/** Resolves to the tRPC code and appCode a createCaller call failed with; throws if it succeeded. */
export async function failure(promise: Promise<unknown>): Promise<Failure> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TRPCError) {
      const cause = error.cause as { appCode?: AppCode; retryAfterSeconds?: number } | undefined;
      return {
        code: error.code,
        appCode: cause?.appCode,
        ...(cause?.retryAfterSeconds !== undefined && { retryAfterSeconds: cause.retryAfterSeconds }),
      };
    }
    throw error;
  }
  throw new Error('expected the call to fail');
}
