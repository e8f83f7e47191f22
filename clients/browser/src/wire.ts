/** Names shared with the edge; `edge_http/wire.py` holds the server's side of each. */

/** The CSRF header the cookie endpoints require (`X-Requested-With`, any non-empty value). */
export const REQUESTED_WITH = "auth-client";

/**
 * The script-readable cookie the edge sets and clears together with the HttpOnly refresh
 * cookie (same lifetime, value `1`, no secret): absent means a refresh cannot succeed.
 */
export const REFRESH_HINT_COOKIE = "refresh_hint";

/** The edge's paths (DESIGN §7 and §12, fixed; the second factor's of issue 20), relative to `basePath`. */
export const PATHS = {
  register: "/auth/register",
  login: "/auth/login",
  refresh: "/auth/refresh",
  logout: "/auth/logout",
  logoutAll: "/auth/logout-all",
  passwordReset: "/auth/password-reset",
  passwordResetConfirm: "/auth/password-reset/confirm",
  verifyEmail: "/auth/verify-email",
  verifyEmailResend: "/auth/verify-email/resend",
  changeEmail: "/auth/email",
  confirmEmail: "/auth/email/confirm",
  loginSecondFactor: "/auth/login/second-factor",
  secondFactor: "/auth/second-factor",
  totp: "/auth/second-factor/totp",
  totpConfirm: "/auth/second-factor/totp/confirm",
  recoveryCodes: "/auth/second-factor/recovery-codes",
  stepUp: "/auth/step-up",
} as const;
