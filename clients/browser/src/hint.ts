/** The refresh hint cookie: whether a refresh can succeed, read without asking the edge. */

import { REFRESH_HINT_COOKIE } from "./wire.js";

/**
 * A function telling whether the browser may hold a refresh cookie for the edge at `basePath`.
 *
 * The edge sets and clears the script-readable hint together with the HttpOnly refresh cookie,
 * so a signed-out page load sends no refresh that must fail. The hint is only visible when the
 * edge shares the page's origin; for an edge elsewhere (or outside a browser) the answer is
 * always "maybe", and the refresh is sent as before.
 */
export function refreshHint(basePath: string): () => boolean {
  if (typeof document === "undefined") return () => true;
  let sameOrigin: boolean;
  try {
    sameOrigin = new URL(basePath || "/", location.href).origin === location.origin;
  } catch {
    sameOrigin = false;
  }
  if (!sameOrigin) return () => true;
  return () =>
    document.cookie
      .split(";")
      .some((pair) => pair.trim().split("=", 1)[0] === REFRESH_HINT_COOKIE);
}
