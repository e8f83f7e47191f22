/** The browser client of the identity edge (DESIGN §8, §11, §13). */

export { createAuthClient } from "./client.js";
export {
  AuthError,
  StepUpRequiredError,
  parseStepUpChallenge,
  type Problem,
  type StepUpChallenge,
} from "./errors.js";
export type { AccessTokenClaims } from "./claims.js";
export type { AuthListener, AuthState, AuthStatus } from "./state.js";
export type {
  AccountCalls,
  AuthClient,
  AuthClientOptions,
  LoginResult,
  RegisteredUser,
  SecondFactorCalls,
  SecondFactorState,
  TokenSource,
  TotpEnrollment,
} from "./types.js";
