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

/**
 * What `login` resolves to: signed in, or the password was right and the account has a second
 * factor: then `completeLogin(ticket, code)` within `expiresIn` seconds finishes it (a ticket is
 * single use and dies after a few wrong codes; start over with `login` then).
 */
export type LoginResult =
  | { readonly status: "signed-in" }
  | { readonly status: "second-factor-required"; readonly ticket: string; readonly expiresIn: number };

/** The user's second factor, and how (`acr`: `aal1` or `aal2`) and when this session authenticated. */
export interface SecondFactorState {
  readonly totpEnabled: boolean;
  /** ISO 8601 (UTC), null while no factor is active. */
  readonly enabledAt: string | null;
  readonly recoveryCodesLeft: number;
  readonly acr: string;
  /** Seconds since the epoch. */
  readonly authTime: number | null;
}

/** A pending TOTP secret: confirm it with a first code (`confirmTotpEnrollment`). */
export interface TotpEnrollment {
  /** Base32, for typing into an authenticator app. */
  readonly secret: string;
  /** `otpauth://totp/…`, the QR code's content. */
  readonly otpauthUri: string;
  /** The QR code as an SVG document: show it as an image (`<img src="data:…">`), never as markup. */
  readonly qrSvg: string;
}

/** The second factor's calls that leave this tab's access token as it is. */
export interface SecondFactorCalls {
  getSecondFactor(): Promise<SecondFactorState>;
  /** Starts (or restarts) enrolment; the current password confirms it is you. */
  beginTotpEnrollment(password: string): Promise<TotpEnrollment>;
  /** Ten new recovery codes (the old ones die; other sessions end). Needs a recent step-up:
   * rejects with StepUpRequiredError otherwise. */
  regenerateRecoveryCodes(): Promise<readonly string[]>;
  /** Removes TOTP and the recovery codes (other sessions end). Needs a recent step-up. */
  disableTotp(): Promise<void>;
}

/** DESIGN §11 (fixed): login, logout, logoutAll, fetch, isAuthenticated, onChange; and more. */
export interface AuthClient extends TokenSource, AccountCalls, SecondFactorCalls {
  /** Resolves once signed in, or with the ticket when a second factor is needed. */
  login(email: string, password: string): Promise<LoginResult>;
  /** Finishes a login with a TOTP or recovery code: signed in (every tab) on success. */
  completeLogin(ticket: string, code: string): Promise<void>;
  /** Proves the second factor again: a new access token for this session (every tab adopts it). */
  stepUp(code: string): Promise<void>;
  /** Activates the pending secret with a first code; resolves with the ten recovery codes, shown
   * this once, and adopts the new access token (`aal2`). */
  confirmTotpEnrollment(code: string): Promise<readonly string[]>;
  logout(): Promise<void>;
  logoutAll(): Promise<void>;
  /** fetch with the access token; on 401 one shared refresh, then one retry. A 401 demanding a
   * step-up (RFC 9470) rejects with StepUpRequiredError instead. */
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
