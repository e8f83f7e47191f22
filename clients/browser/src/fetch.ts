/**
 * The `fetch` wrapper, as two hooks around one request (after ky's beforeRequest and
 * afterResponse): add the Bearer header, and on a 401 replay once with a renewed token.
 *
 * A 401 with an RFC 9470 step-up challenge (`error="insufficient_user_authentication"`) is not
 * replayed: the token is valid, the user authenticated too weakly or too long ago, and a refresh
 * keeps both. It rejects with `StepUpRequiredError` so the app can ask for a code (`stepUp`).
 */

import { toStepUpError } from "./errors.js";
import type { TokenSource } from "./types.js";

function withBearer(request: Request, token: string): Request {
  const headers = new Headers(request.headers);
  headers.set("Authorization", `Bearer ${token}`);
  return new Request(request, { headers });
}

async function unlessStepUp(response: Response): Promise<Response> {
  const demand = await toStepUpError(response.clone());
  if (demand !== null) throw demand;
  return response;
}

export function createAuthFetch(
  tokens: TokenSource,
): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
  return async function authFetch(input, init) {
    const request = new Request(input, init);
    if (!tokens.sendsTokenTo(request.url)) return fetch(request);
    const token = await tokens.getAccessToken();
    if (token === null) return fetch(request); // signed out: the request goes as it is
    const response = await unlessStepUp(await fetch(withBearer(request.clone(), token)));
    if (response.status !== 401) return response;
    const renewed = await tokens.renewAccessToken(token);
    if (renewed === null) return response;
    return unlessStepUp(await fetch(withBearer(request, renewed)));
  };
}
