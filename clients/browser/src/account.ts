/**
 * Account calls that do not touch the refresh cookie: registration now; the account-lifecycle
 * calls of DESIGN §12 (requestPasswordReset, resetPassword, verifyEmail, changeEmail) belong here.
 */

import { toError } from "./errors.js";
import type { RegisteredUser } from "./types.js";
import { PATHS } from "./wire.js";

export interface PostOptions {
  /** Sent as JSON. */
  readonly body?: unknown;
  readonly bearer?: string | null;
  /** Send again after a 503's Retry-After (default true). */
  readonly retry?: boolean;
}

/** Sends a POST to the edge (with the CSRF header) and returns the raw response. */
export type EdgePost = (path: string, options?: PostOptions) => Promise<Response>;

export function createAccountCalls(post: EdgePost) {
  return {
    async register(email: string, password: string): Promise<RegisteredUser> {
      const response = await post(PATHS.register, { body: { email, password } });
      if (!response.ok) throw await toError(response);
      return (await response.json()) as RegisteredUser;
    },
  };
}
