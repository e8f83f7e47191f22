/**
 * The second factor's calls that leave the refresh cookie alone: the factor's state, starting
 * enrolment, new recovery codes and disabling. (Finishing a login, confirming enrolment and
 * stepping up change this tab's access token, so client.ts runs them under the cookie lock.)
 */

import { type EdgePost, signedInCall } from "./account.js";
import { toError } from "./errors.js";
import type { SecondFactorCalls, SecondFactorState, TokenSource, TotpEnrollment } from "./types.js";
import { PATHS } from "./wire.js";

interface StateAnswer {
  readonly totp_enabled: boolean;
  readonly enabled_at: string | null;
  readonly recovery_codes_left: number;
  readonly acr: string;
  readonly auth_time: number | null;
}

interface EnrollmentAnswer {
  readonly secret: string;
  readonly otpauth_uri: string;
  readonly qr_svg: string;
}

export function createSecondFactorCalls(post: EdgePost, tokens: TokenSource): SecondFactorCalls {
  return {
    async getSecondFactor(): Promise<SecondFactorState> {
      const response = await signedInCall(post, tokens, PATHS.secondFactor, { method: "GET" });
      if (!response.ok) throw await toError(response);
      const body = (await response.json()) as StateAnswer;
      return Object.freeze({
        totpEnabled: body.totp_enabled,
        enabledAt: body.enabled_at,
        recoveryCodesLeft: body.recovery_codes_left,
        acr: body.acr,
        authTime: body.auth_time,
      });
    },

    async beginTotpEnrollment(password: string): Promise<TotpEnrollment> {
      // No replay after a 401: it may be the password's (and a replay would count it twice).
      const token = await tokens.getAccessToken();
      const response = await post(PATHS.totp, { body: { password }, bearer: token, retry: false });
      if (!response.ok) throw await toError(response);
      const body = (await response.json()) as EnrollmentAnswer;
      return Object.freeze({ secret: body.secret, otpauthUri: body.otpauth_uri, qrSvg: body.qr_svg });
    },

    async regenerateRecoveryCodes(): Promise<readonly string[]> {
      const response = await signedInCall(post, tokens, PATHS.recoveryCodes);
      if (!response.ok) throw await toError(response);
      const body = (await response.json()) as { readonly recovery_codes: readonly string[] };
      return Object.freeze([...body.recovery_codes]);
    },

    async disableTotp(): Promise<void> {
      const response = await signedInCall(post, tokens, PATHS.totp, { method: "DELETE" });
      if (!response.ok) throw await toError(response);
    },
  };
}
