/**
 * The `fetch` wrapper, as two hooks around one request (after ky's beforeRequest and
 * afterResponse): add the Bearer header, and on a 401 replay once with a renewed token.
 */

import type { TokenSource } from "./types.js";

function withBearer(request: Request, token: string): Request {
  const headers = new Headers(request.headers);
  headers.set("Authorization", `Bearer ${token}`);
  return new Request(request, { headers });
}

export function createAuthFetch(
  tokens: TokenSource,
): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
  return async function authFetch(input, init) {
    const request = new Request(input, init);
    if (!tokens.sendsTokenTo(request.url)) return fetch(request);
    const token = await tokens.getAccessToken();
    if (token === null) return fetch(request); // signed out: the request goes as it is
    const response = await fetch(withBearer(request.clone(), token));
    if (response.status !== 401) return response;
    const renewed = await tokens.renewAccessToken(token);
    if (renewed === null) return response;
    return fetch(withBearer(request, renewed));
  };
}
