/**
 * Account calls that do not touch the refresh cookie: registration and the account lifecycle
 * over email of DESIGN §12 (password reset, email verification, email change).
 */

import { AuthError, toError } from "./errors.js";
import type { AccountCalls, RegisteredUser, TokenSource } from "./types.js";
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

export function createAccountCalls(post: EdgePost, tokens: TokenSource): AccountCalls {
  async function send(path: string, body: unknown): Promise<void> {
    const response = await post(path, { body });
    if (!response.ok) throw await toError(response);
  }

  // The signed-in calls: the Bearer token, and on a 401 the client's one shared refresh and
  // one replay, as `fetch` does.
  async function sendSignedIn(path: string, body?: unknown): Promise<void> {
    const token = await tokens.getAccessToken();
    if (token === null) throw new AuthError(401, null, null);
    let response = await post(path, { body, bearer: token });
    if (response.status === 401) {
      const renewed = await tokens.renewAccessToken(token);
      if (renewed !== null) response = await post(path, { body, bearer: renewed });
    }
    if (!response.ok) throw await toError(response);
  }

  return {
    async register(email: string, password: string): Promise<RegisteredUser> {
      const response = await post(PATHS.register, { body: { email, password } });
      if (!response.ok) throw await toError(response);
      return (await response.json()) as RegisteredUser;
    },
    requestPasswordReset: (email) => send(PATHS.passwordReset, { email }),
    resetPassword: (token, password) => send(PATHS.passwordResetConfirm, { token, password }),
    verifyEmail: (token) => send(PATHS.verifyEmail, { token }),
    resendVerification: () => sendSignedIn(PATHS.verifyEmailResend),
    changeEmail: (newEmail, password) =>
      sendSignedIn(PATHS.changeEmail, { new_email: newEmail, password }),
    confirmEmailChange: (token) => send(PATHS.confirmEmail, { token }),
  };
}
