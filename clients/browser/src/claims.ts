/** The access token's claims, decoded for display (never verified here: the API verifies). */

/** RFC 9068 claims of our access tokens (DESIGN §2); others may be present. */
export interface AccessTokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string | readonly string[];
  readonly exp: number;
  readonly iat: number;
  readonly nbf?: number;
  readonly jti?: string;
  readonly sid?: string;
  readonly scope?: string;
  readonly client_id?: string;
  /** Whether the account's address is verified (DESIGN §12). */
  readonly email_verified?: boolean;
  readonly [claim: string]: unknown;
}

function isClaims(value: unknown): value is AccessTokenClaims {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const claims = value as Record<string, unknown>;
  return typeof claims["sub"] === "string" && typeof claims["exp"] === "number";
}

/** The payload of a JWT as a frozen object, or null when it is not one. */
export function decodeClaims(token: string): AccessTokenClaims | null {
  const payload = token.split(".")[1];
  if (payload === undefined) return null;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return isClaims(value) ? Object.freeze(value) : null;
  } catch {
    return null;
  }
}
