/** AuthError: a failed call to the edge, with its RFC 9457 problem body when there is one. */

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
  override readonly name = "AuthError";
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

function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export async function toError(response: Response): Promise<AuthError> {
  let problem: Problem | null = null;
  if ((response.headers.get("Content-Type") ?? "").includes("json")) {
    const body: unknown = await response.json().catch(() => null);
    problem = isProblem(body) ? body : null;
  }
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return new AuthError(response.status, problem, Number.isFinite(retryAfter) ? retryAfter : null);
}
