/** The browser client of the identity edge (DESIGN §8, §11, §13). */

export { createAuthClient } from "./client.js";
export { AuthError, type Problem } from "./errors.js";
export type { AccessTokenClaims } from "./claims.js";
export type { AuthListener, AuthState, AuthStatus } from "./state.js";
export type {
  AccountCalls,
  AuthClient,
  AuthClientOptions,
  RegisteredUser,
  TokenSource,
} from "./types.js";
