/**
 * createAuthClient: the access token in this closure only, single-flight refresh, the
 * cookie-changing calls under the cross-tab lock (tabs.ts), proactive refresh (schedule.ts).
 *
 * The access token is never put in localStorage, sessionStorage, IndexedDB or a readable
 * cookie. The refresh token is an HttpOnly cookie this code never sees.
 */

import { createAccountCalls, type PostOptions } from "./account.js";
import { toError } from "./errors.js";
import { createAuthFetch } from "./fetch.js";
import { refreshHint } from "./hint.js";
import {
  CATCH_UP_BELOW_MS,
  RETRY_503_BUDGET_MS,
  RETRY_WHILE_REMAINING_MS,
  proactiveDelay,
  retryAfterDelay,
  retryDelay,
} from "./schedule.js";
import { createStateStore } from "./state.js";
import { createTabs } from "./tabs.js";
import type { AuthClient, AuthClientOptions, TokenSource } from "./types.js";
import { PATHS, REQUESTED_WITH } from "./wire.js";

interface TokenAnswer {
  readonly access_token: string;
  readonly expires_in: number;
}

export function createAuthClient(options: AuthClientOptions = {}): AuthClient {
  const basePath = options.basePath ?? "";
  const tokenOrigins = new Set([location.origin, ...(options.apiOrigins ?? [])]);
  const mayHaveRefreshCookie = refreshHint(basePath);
  const store = createStateStore();

  let accessToken: string | null = null;
  let expiresAt = 0; // performance.now() when the token expires, from expires_in at receipt
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: Promise<boolean> | null = null; // this tab's single-flight refresh
  let settled = false; // the silent refresh on creation has finished
  let closed = false;

  const tabs = createTabs((message) => {
    if (message.type === "token") adopt(message.token, message.expiresIn);
    else drop();
  });

  function publishState(): void {
    store.set(settled, accessToken);
  }

  function schedule(lifetimeMs: number): void {
    clearTimeout(timer);
    if (closed) return;
    timer = setTimeout(onTimer, proactiveDelay(lifetimeMs));
  }

  async function onTimer(): Promise<void> {
    const ok = await refresh().catch(() => false);
    const remaining = expiresAt - performance.now();
    if (!ok && accessToken !== null && remaining > RETRY_WHILE_REMAINING_MS && !closed) {
      // Identity unreachable: try again while the token still works.
      clearTimeout(timer);
      timer = setTimeout(onTimer, retryDelay(remaining));
    }
  }

  function adopt(token: string, expiresInSeconds: number): void {
    const lifetimeMs = Math.max(0, Number(expiresInSeconds) || 0) * 1000;
    accessToken = token;
    expiresAt = performance.now() + lifetimeMs; // our own clock, never `exp` vs Date.now()
    schedule(lifetimeMs);
    publishState();
  }

  function drop(): void {
    clearTimeout(timer);
    accessToken = null;
    expiresAt = 0;
    publishState();
  }

  async function signedIn(response: Response): Promise<void> {
    const body = (await response.json()) as TokenAnswer;
    adopt(body.access_token, body.expires_in);
    await tabs.publish({ type: "token", token: body.access_token, expiresIn: body.expires_in });
  }

  async function signedOut(): Promise<void> {
    drop();
    await tabs.publish({ type: "logout" });
  }

  // With `retry`, a 503 carrying Retry-After is sent again after that delay (with jitter),
  // within RETRY_503_BUDGET_MS. Safe for these calls: a refresh identity may have completed
  // after all is answered by its grace window. Logout passes retry: false (its 503 already
  // cleared the cookie, so a second try would sign out nothing).
  async function post(path: string, { body, bearer, retry = true }: PostOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { "X-Requested-With": REQUESTED_WITH };
    const init: RequestInit = { method: "POST", headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (bearer) headers["Authorization"] = `Bearer ${bearer}`;
    let budget = RETRY_503_BUDGET_MS;
    for (;;) {
      const response = await fetch(basePath + path, init);
      const seconds = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
      if (!retry || response.status !== 503 || !(seconds >= 0)) return response;
      const wait = retryAfterDelay(seconds);
      if (wait > budget || closed) return response;
      budget -= wait;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  // Under the cookie lock only. True when this tab holds a fresh access token afterwards.
  async function refreshLocked(): Promise<boolean> {
    if (!mayHaveRefreshCookie()) {
      // No hint, no refresh cookie: what a 401 from the edge would say, without the request.
      if (accessToken !== null) await signedOut();
      return false;
    }
    const response = await post(PATHS.refresh);
    if (response.ok) {
      await signedIn(response);
      return true;
    }
    if (response.status === 401) {
      await signedOut(); // the edge cleared the cookie: no tab can refresh any more
      return false;
    }
    return false; // 503, 429, ...: keep the cookie and whatever token this tab has
  }

  /** Rotate the refresh cookie once, however many callers ask at the same time. */
  function refresh(): Promise<boolean> {
    if (inFlight) return inFlight;
    const seen = tabs.epoch;
    inFlight = tabs
      .withCookieLock(async () => {
        const latest = await tabs.latest();
        if (latest > seen && (await tabs.waitFor(latest))) {
          return accessToken !== null; // another tab changed the cookie since we decided
        }
        return refreshLocked();
      })
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  }

  const started = tabs
    .join()
    .then(() => (options.silentRefresh === false ? false : refresh().catch(() => false)))
    .then(() => {
      settled = true;
      publishState();
    });

  const tokens: TokenSource = {
    sendsTokenTo(url: string | URL): boolean {
      try {
        return tokenOrigins.has(new URL(url, location.href).origin);
      } catch {
        return false;
      }
    },

    async getAccessToken(): Promise<string | null> {
      await started;
      if (accessToken !== null && performance.now() < expiresAt) return accessToken;
      await refresh().catch(() => false);
      return accessToken;
    },

    async renewAccessToken(rejected: string): Promise<string | null> {
      if (accessToken !== null && accessToken !== rejected) return accessToken;
      const renewed = await refresh().catch(() => false);
      return renewed ? accessToken : null;
    },
  };

  async function login(email: string, password: string): Promise<void> {
    await tabs.withCookieLock(async () => {
      const response = await post(PATHS.login, { body: { email, password } });
      if (!response.ok) throw await toError(response);
      await signedIn(response);
    });
  }

  async function logout(): Promise<void> {
    await tabs.withCookieLock(async () => {
      let response: Response;
      try {
        response = await post(PATHS.logout, { retry: false });
      } finally {
        await signedOut(); // the edge cleared the cookie; sign out here whatever happened
      }
      if (!response.ok) throw await toError(response);
    });
  }

  async function logoutAll(): Promise<void> {
    await tabs.withCookieLock(async () => {
      let response = await post(PATHS.logoutAll, { bearer: accessToken });
      if (response.status === 401 && (await refreshLocked())) {
        response = await post(PATHS.logoutAll, { bearer: accessToken });
      }
      if (!response.ok) throw await toError(response);
      await signedOut();
    });
  }

  function onVisible(): void {
    if (document.visibilityState !== "visible" || accessToken === null) return;
    // Background tabs have their timers throttled: catch up when shown again.
    if (expiresAt - performance.now() < CATCH_UP_BELOW_MS) refresh().catch(() => false);
  }
  if (typeof document !== "undefined") document.addEventListener("visibilitychange", onVisible);

  return {
    ...tokens,
    ...createAccountCalls(post, tokens),
    login,
    logout,
    logoutAll,
    fetch: createAuthFetch(tokens),
    isAuthenticated: () => accessToken !== null,
    onChange: (callback) => store.subscribe(callback),
    getState: () => store.get(),
    ready: () => started.then(() => accessToken !== null),
    close(): void {
      closed = true;
      clearTimeout(timer);
      tabs.close();
      if (typeof document !== "undefined") document.removeEventListener("visibilitychange", onVisible);
    },
  };
}
