/**
 * Account calls that do not touch the refresh cookie: registration and the account lifecycle
 * over email of DESIGN §12 (password reset, email verification, email change).
 */

import { AuthError, toError } from "./errors.js";
import type { AccountCalls, RegisteredUser, TokenSource } from "./types.js";
import { PATHS } from "./wire.js";

export interface PostOptions {
  /** POST unless said (GET and DELETE for the few signed-in reads and removals). */
  readonly method?: "POST" | "GET" | "DELETE";
  /** Sent as JSON. */
  readonly body?: unknown;
  readonly bearer?: string | null;
  /** Send again after a 503's Retry-After (default true). */
  readonly retry?: boolean;
}

/** Sends a POST to the edge (with the CSRF header) and returns the raw response. */
export type EdgePost = (path: string, options?: PostOptions) => Promise<Response>;

/**
 * A signed-in call: the Bearer token, and on a 401 the client's one shared refresh and one
 * replay, as `fetch` does. Only for calls whose 401 can only be the token's (no password, no
 * code in the body: a replay would count a wrong one twice).
 */
export async function signedInCall(
  post: EdgePost,
  tokens: TokenSource,
  path: string,
  options: PostOptions = {},
): Promise<Response> {
  const token = await tokens.getAccessToken();
  if (token === null) throw new AuthError(401, null, null);
  let response = await post(path, { ...options, bearer: token });
  if (response.status === 401) {
    const renewed = await tokens.renewAccessToken(token);
    if (renewed !== null) response = await post(path, { ...options, bearer: renewed });
  }
  return response;
}

export function createAccountCalls(post: EdgePost, tokens: TokenSource): AccountCalls {
  async function send(path: string, body: unknown): Promise<void> {
    const response = await post(path, { body });
    if (!response.ok) throw await toError(response);
  }

  async function sendSignedIn(path: string, body?: unknown): Promise<void> {
    const response = await signedInCall(post, tokens, path, { body });
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
