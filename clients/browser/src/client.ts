/**
 * createAuthClient: the access token in this closure only, single-flight refresh, the
 * cookie-changing calls under the cross-tab lock (tabs.ts), proactive refresh (schedule.ts).
 *
 * The access token is never put in localStorage, sessionStorage, IndexedDB or a readable
 * cookie. The refresh token is an HttpOnly cookie this code never sees.
 */

import { createAccountCalls, type PostOptions } from "./account.js";
import { AuthError, toError } from "./errors.js";
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
import { createSecondFactorCalls } from "./second-factor.js";
import { createStateStore } from "./state.js";
import { createTabs } from "./tabs.js";
import type { AuthClient, AuthClientOptions, LoginResult, TokenSource } from "./types.js";
import { PATHS, REQUESTED_WITH } from "./wire.js";

interface TokenAnswer {
  readonly access_token: string;
  readonly expires_in: number;
}

/** Step-up's answer; confirming enrolment adds the recovery codes. */
interface CodeAnswer extends TokenAnswer {
  readonly recovery_codes?: readonly string[];
}

/** Login's answer when the account has a second factor (no cookie was set). */
interface SecondFactorAnswer {
  readonly second_factor_required: true;
  readonly mfa_ticket: string;
  readonly mfa_ticket_expires_in: number;
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

  // Under the cookie lock: this tab and, through the broadcast, every other one takes the token
  // (a new session's, a rotated one, or a stepped-up one of the same session).
  async function signedIn(response: Response): Promise<void> {
    await tokenChanged((await response.json()) as TokenAnswer);
  }

  async function tokenChanged(body: TokenAnswer): Promise<void> {
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
  async function post(path: string, { method = "POST", body, bearer, retry = true }: PostOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { "X-Requested-With": REQUESTED_WITH };
    const init: RequestInit = { method, headers, credentials: "same-origin", cache: "no-store" };
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

  async function login(email: string, password: string): Promise<LoginResult> {
    return tabs.withCookieLock(async (): Promise<LoginResult> => {
      const response = await post(PATHS.login, { body: { email, password } });
      if (!response.ok) throw await toError(response);
      const body = (await response.json()) as TokenAnswer | SecondFactorAnswer;
      if ("second_factor_required" in body && body.second_factor_required) {
        // Nothing changed: no cookie, no token, no broadcast until the code is in.
        return { status: "second-factor-required", ticket: body.mfa_ticket, expiresIn: body.mfa_ticket_expires_in };
      }
      await tokenChanged(body as TokenAnswer);
      return { status: "signed-in" };
    });
  }

  async function completeLogin(ticket: string, code: string): Promise<void> {
    await tabs.withCookieLock(async () => {
      // Never re-sent, not even after a 503: identity may have opened the session and spent the
      // ticket and the code already, and a second try would be refused (and counted).
      const response = await post(PATHS.loginSecondFactor, { body: { mfa_ticket: ticket, code }, retry: false });
      if (!response.ok) throw await toError(response);
      await signedIn(response);
    });
  }

  // A call with a code that answers a new access token for this session, under the cookie lock
  // so that its token and a refresh of another tab are published in the order they happened.
  // Never replayed, after a 401 or a 503: the first may have been the code's, the second may
  // come after identity spent the code; either way a second try would count it twice (the
  // token is made fresh first instead; the lock is held, so refreshLocked, not refresh).
  async function withCode(path: string, code: string): Promise<CodeAnswer> {
    return tabs.withCookieLock(async () => {
      if (accessToken === null || performance.now() >= expiresAt) await refreshLocked();
      if (accessToken === null) throw new AuthError(401, null, null);
      const response = await post(path, { body: { code }, bearer: accessToken, retry: false });
      if (!response.ok) throw await toError(response);
      const body = (await response.json()) as CodeAnswer;
      await tokenChanged(body);
      return body;
    });
  }

  async function stepUp(code: string): Promise<void> {
    await withCode(PATHS.stepUp, code);
  }

  async function confirmTotpEnrollment(code: string): Promise<readonly string[]> {
    const { recovery_codes: codes = [] } = await withCode(PATHS.totpConfirm, code);
    return Object.freeze([...codes]);
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
    ...createSecondFactorCalls(post, tokens),
    login,
    completeLogin,
    stepUp,
    confirmTotpEnrollment,
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
