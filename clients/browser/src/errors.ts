/**
 * AuthError: a failed call to the edge, with its RFC 9457 problem body when there is one; and
 * StepUpRequiredError, the one refusal the user can resolve with a second-factor code.
 */

/** The problem+json body the edge answers errors with (RFC 9457, plus a stable `code`). */
export interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly detail?: string;
  readonly code?: string;
  readonly [member: string]: unknown;
}

/** A failed auth call; `problem` is the RFC 9457 body when the edge sent one. */
export class AuthError extends Error {
  override readonly name: string = "AuthError";
  readonly status: number;
  readonly problem: Problem | null;
  readonly code: string | null;
  /** Seconds from `Retry-After` (429, 503), when the edge sent it. */
  readonly retryAfter: number | null;

  constructor(status: number, problem: Problem | null, retryAfter: number | null) {
    super(problem?.detail ?? `request failed (${status})`);
    this.status = status;
    this.problem = problem;
    this.code = typeof problem?.code === "string" ? problem.code : null;
    this.retryAfter = retryAfter;
  }
}

/** The edge's problem code for an operation that needs a recent step-up. */
export const STEP_UP_REQUIRED = "step_up_required";

function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A refusal as its error: `StepUpRequiredError` for 403 `step_up_required`, else AuthError. */
export async function toError(response: Response): Promise<AuthError> {
  let problem: Problem | null = null;
  if ((response.headers.get("Content-Type") ?? "").includes("json")) {
    const body: unknown = await response.json().catch(() => null);
    problem = isProblem(body) ? body : null;
  }
  if (response.status === 403 && problem?.code === STEP_UP_REQUIRED) {
    return new StepUpRequiredError(403, problem, { acrValues: [], maxAge: null });
  }
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return new AuthError(response.status, problem, Number.isFinite(retryAfter) ? retryAfter : null);
}

/** The RFC 9470 demand of a resource, from `WWW-Authenticate: Bearer error="insufficient_user_authentication", …`. */
export interface StepUpChallenge {
  /** `acr_values`, space-separated in the header (`["aal2"]`); empty when not said. */
  readonly acrValues: readonly string[];
  /** `max_age`: the most seconds since the user last authenticated, when the resource says. */
  readonly maxAge: number | null;
}

/**
 * The user must prove the second factor again (`stepUp(code)`), then retry: a resource refused a
 * valid token for how or when the user authenticated (401 with an RFC 9470 challenge), or the
 * edge refused an operation that needs a recent step-up (403 `step_up_required`). A refresh
 * cannot help, so the client never tries one for it.
 */
export class StepUpRequiredError extends AuthError {
  override readonly name: string = "StepUpRequiredError";
  readonly acrValues: readonly string[];
  readonly maxAge: number | null;

  constructor(status: number, problem: Problem | null, challenge: StepUpChallenge) {
    super(status, problem, null);
    this.acrValues = challenge.acrValues;
    this.maxAge = challenge.maxAge;
  }
}

const INSUFFICIENT = "insufficient_user_authentication";
// One auth-param of a challenge (RFC 9110 §11.2): token=token or token="quoted \" string".
const AUTH_PARAM = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))/g;

/** The step-up demand of a `WWW-Authenticate` value, or null when it is not one. */
export function parseStepUpChallenge(header: string | null | undefined): StepUpChallenge | null {
  if (!header || !/^\s*bearer\b/i.test(header)) return null;
  const params = new Map<string, string>();
  for (const match of header.matchAll(AUTH_PARAM)) {
    const [, name = "", quoted, bare] = match;
    params.set(name.toLowerCase(), quoted !== undefined ? quoted.replace(/\\(.)/g, "$1") : (bare ?? ""));
  }
  if (params.get("error") !== INSUFFICIENT) return null;
  const acr = params.get("acr_values") ?? "";
  const maxAge = Number.parseInt(params.get("max_age") ?? "", 10);
  return {
    acrValues: acr.split(/\s+/).filter((value) => value !== ""),
    maxAge: Number.isFinite(maxAge) ? maxAge : null,
  };
}

/** A step-up demand as its error (null when `response` is not one); reads the body. */
export async function toStepUpError(response: Response): Promise<StepUpRequiredError | null> {
  if (response.status !== 401) return null;
  const challenge = parseStepUpChallenge(response.headers.get("WWW-Authenticate"));
  if (challenge === null) return null;
  const error = await toError(response);
  return new StepUpRequiredError(401, error.problem, challenge);
}
