/** The client's observable state: one frozen snapshot, replaced only when something changed. */

import { decodeClaims, type AccessTokenClaims } from "./claims.js";

/** `loading` until the silent refresh on creation has settled. */
export type AuthStatus = "loading" | "signedIn" | "signedOut";

export interface AuthState {
  readonly status: AuthStatus;
  /** `status === "signedIn"` (the shape the first auth-client.js passed to `onChange`). */
  readonly authenticated: boolean;
  /** The current access token's claims, decoded but not verified: for display only. */
  readonly claims: AccessTokenClaims | null;
}

export type AuthListener = (state: AuthState) => void;

export interface StateStore {
  get(): AuthState;
  /** Replace the snapshot when the status or the token changed, and tell every listener. */
  set(settled: boolean, token: string | null): void;
  subscribe(listener: AuthListener): () => void;
}

function snapshot(status: AuthStatus, claims: AccessTokenClaims | null): AuthState {
  return Object.freeze({ status, authenticated: status === "signedIn", claims });
}

export function createStateStore(): StateStore {
  const listeners = new Set<AuthListener>();
  let state = snapshot("loading", null);
  let token: string | null = null;

  return {
    get: () => state,

    set(settled: boolean, next: string | null): void {
      const status: AuthStatus = next !== null ? "signedIn" : settled ? "signedOut" : "loading";
      if (status === state.status && next === token) return;
      token = next;
      state = snapshot(status, next === null ? null : decodeClaims(next));
      for (const listener of [...listeners]) {
        try {
          listener(state);
        } catch (error) {
          console.error(error); // one faulty listener must not stop the others
        }
      }
    },

    subscribe(listener: AuthListener): () => void {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}
