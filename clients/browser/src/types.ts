/** The public shapes of the client: its options and the object `createAuthClient` returns. */

import type { AuthListener, AuthState } from "./state.js";

export interface AuthClientOptions {
  /** Prefix of the edge's paths: "" when the edge serves this origin (the default). */
  readonly basePath?: string;
  /** Other origins `fetch` and `attachAxios` may send the access token to (default: none). */
  readonly apiOrigins?: readonly string[];
  /** Refresh once on creation to pick up an existing session (default true). */
  readonly silentRefresh?: boolean;
}

/**
 * What `register` answers: the new account (201), or, when the deployment requires verified
 * addresses, only that a link was mailed (202, the same for new and taken addresses).
 */
export type RegisteredUser =
  | { readonly user_id: string; readonly verification_required?: undefined }
  | { readonly user_id?: undefined; readonly verification_required: true };

/** Where requests get the access token: the seam `fetch` and `attachAxios` share. */
export interface TokenSource {
  /** True when a request to `url` may carry the access token (this origin or `apiOrigins`). */
  sendsTokenTo(url: string | URL): boolean;
  /** The access token; refreshes first (single flight) when it is missing or expired. */
  getAccessToken(): Promise<string | null>;
  /**
   * `rejected` met a 401: a newer token, joining the one refresh in flight (or none when another
   * call already replaced it), or null when the session cannot be renewed.
   */
  renewAccessToken(rejected: string): Promise<string | null>;
}

/**
 * The calls that do not touch the refresh cookie: registration and DESIGN §12's account
 * lifecycle. Failures reject with AuthError (its `problem` the edge's problem+json body).
 */
export interface AccountCalls {
  register(email: string, password: string): Promise<RegisteredUser>;
  /** Mails a reset link if the address has an account; resolves alike for every address. */
  requestPasswordReset(email: string): Promise<void>;
  /** Sets a new password with the link's token. Does not sign in; every session ends. */
  resetPassword(token: string, password: string): Promise<void>;
  /** Marks the address verified with the link's token (the next token says email_verified). */
  verifyEmail(token: string): Promise<void>;
  /** Mails a new verification link (signed in). */
  resendVerification(): Promise<void>;
  /** Mails a confirmation link to `newEmail` (signed in; the password confirms it is you). */
  changeEmail(newEmail: string, password: string): Promise<void>;
  /** Applies the email change the link's token was mailed for. */
  confirmEmailChange(token: string): Promise<void>;
}

/** DESIGN §11 (fixed): login, logout, logoutAll, fetch, isAuthenticated, onChange; and more. */
export interface AuthClient extends TokenSource, AccountCalls {
  login(email: string, password: string): Promise<void>;
  logout(): Promise<void>;
  logoutAll(): Promise<void>;
  /** fetch with the access token; on 401 one shared refresh, then one retry. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  isAuthenticated(): boolean;
  /** Called with the new state whenever it changes; returns the unsubscribe function. */
  onChange(callback: AuthListener): () => void;
  /** The current state: the same frozen object until something changes. */
  getState(): AuthState;
  /** Resolves once the silent refresh on creation has finished (true when signed in). */
  ready(): Promise<boolean>;
  close(): void;
}
