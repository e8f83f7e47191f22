// Browser client of the identity edge. An ES module without dependencies.
//
//   import { createAuthClient } from "/auth-client.js";
//   const auth = createAuthClient();
//   await auth.login(email, password);
//   const response = await auth.fetch("/api/me");
//
// The access token lives only in this closure: never in localStorage, sessionStorage, IndexedDB
// or a readable cookie. The refresh token is an HttpOnly cookie this code never sees.
//
// Across tabs of one origin:
// - every call that changes the refresh cookie (login, refresh, logout, logout-all) runs under
//   one Web Lock, so the browser never has two of them in flight;
// - each change gets a new session epoch. The tab that made it broadcasts the epoch with the
//   new access token (or the sign-out) on a BroadcastChannel, and, before it lets go of the
//   cookie lock, also holds a shared Web Lock named after the epoch. The next tab to take the
//   cookie lock reads the newest epoch from `navigator.locks.query()`: if the cookie changed
//   after that tab decided to refresh, it waits for the broadcast and adopts its result instead
//   of sending a call made stale by the change. Lock state, unlike message delivery, is
//   consistent the moment the lock is granted.
// Without Web Locks or BroadcastChannel each tab works on its own; the server's grace window
// then absorbs concurrent refreshes of one cookie.

const COOKIE_LOCK = "auth-client:refresh-cookie";
const EPOCH_LOCK_PREFIX = "auth-client:epoch:";
const CHANNEL_NAME = "auth-client";
const REQUESTED_WITH = "auth-client";
const BROADCAST_WAIT_MS = 1000;
// A 503 with Retry-After means identity did not complete the call (a replica restarting, say):
// auth calls are sent again after the delay it asks for, within this much waiting in all.
const RETRY_503_BUDGET_MS = 10_000;

/** A failed auth call; `problem` is the RFC 9457 body when the edge sent one. */
export class AuthError extends Error {
  constructor(status, problem, retryAfter) {
    super((problem && problem.detail) || `request failed (${status})`);
    this.name = "AuthError";
    this.status = status;
    this.problem = problem || null;
    this.code = (problem && problem.code) || null;
    this.retryAfter = retryAfter;
  }
}

async function toError(response) {
  let problem = null;
  if ((response.headers.get("Content-Type") || "").includes("json")) {
    problem = await response.json().catch(() => null);
  }
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return new AuthError(response.status, problem, Number.isFinite(retryAfter) ? retryAfter : null);
}

/** Cross-tab coordination: the cookie lock, the epoch, the channel (each with a fallback). */
function createCoordinator(onMessage) {
  const locks = globalThis.navigator && navigator.locks && navigator.locks.request ? navigator.locks : null;
  const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL_NAME) : null;
  let queue = Promise.resolve(); // per-tab stand-in for the cookie lock
  let releaseEpochLock = null;
  let epoch = 0;
  const waiters = new Set();

  function advance(value) {
    if (value <= epoch) return false;
    epoch = value;
    for (const waiter of [...waiters]) waiter();
    return true;
  }

  if (channel) {
    channel.onmessage = (event) => {
      const message = event.data;
      if (!message || typeof message !== "object" || typeof message.epoch !== "number") return;
      if (message.epoch < epoch) return; // older than what this tab already knows
      advance(message.epoch);
      onMessage(message);
    };
  }

  return {
    hasChannel: channel !== null,
    get epoch() {
      return epoch;
    },

    withCookieLock(task) {
      if (locks) return locks.request(COOKIE_LOCK, () => task());
      const run = queue.then(() => task());
      queue = run.catch(() => undefined);
      return run;
    },

    /** The newest epoch any tab has published (the local one without Web Locks). */
    async latest() {
      if (!locks || !locks.query) return epoch;
      const { held = [] } = await locks.query();
      let newest = epoch;
      for (const { name } of held) {
        if (name && name.startsWith(EPOCH_LOCK_PREFIX)) {
          newest = Math.max(newest, Number(name.slice(EPOCH_LOCK_PREFIX.length)) || 0);
        }
      }
      return newest;
    },

    /** Resolves true once a broadcast brought this tab to `target`, false after a while. */
    waitFor(target) {
      if (epoch >= target) return Promise.resolve(true);
      if (!channel) return Promise.resolve(false);
      return new Promise((resolve) => {
        const done = (result) => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(result);
        };
        const check = () => epoch >= target && done(true);
        const timer = setTimeout(() => done(false), BROADCAST_WAIT_MS);
        waiters.add(check);
      });
    },

    /** Call under the cookie lock after changing the cookie: a new epoch, told to every tab. */
    async publish(message) {
      // Date.now() keeps epochs comparable with tabs opened later; +1 keeps them growing.
      advance(Math.max(epoch + 1, Date.now()));
      const value = epoch;
      if (channel) channel.postMessage({ ...message, epoch: value });
      if (!locks) return;
      const previous = releaseEpochLock;
      await new Promise((granted) => {
        locks.request(`${EPOCH_LOCK_PREFIX}${value}`, { mode: "shared" }, () => {
          granted();
          return new Promise((release) => {
            releaseEpochLock = release;
          });
        });
      });
      if (previous) previous();
    },

    /** Take the epoch of the tabs already open, so that their past changes count as seen. */
    async join() {
      advance(await this.latest());
    },

    close() {
      if (channel) channel.close();
      if (releaseEpochLock) releaseEpochLock();
    },
  };
}

/**
 * Create a client. Options:
 *   basePath      prefix of the edge's paths on this origin (default "")
 *   apiOrigins    other origins `fetch` may send the access token to (default: none)
 *   silentRefresh refresh once on creation to pick up an existing session (default true)
 */
export function createAuthClient(options = {}) {
  const basePath = options.basePath || "";
  const tokenOrigins = new Set([location.origin, ...(options.apiOrigins || [])]);

  let accessToken = null;
  let expiresAt = 0; // performance.now() when the token expires, from expires_in at receipt
  let timer = null;
  let inFlight = null; // this tab's single-flight refresh
  let closed = false;
  const listeners = new Set();

  const tabs = createCoordinator((message) => {
    if (message.type === "token" && typeof message.token === "string") {
      adopt(message.token, message.expiresIn);
    } else if (message.type === "logout") {
      drop();
    }
  });

  function notify() {
    const state = { authenticated: accessToken !== null };
    for (const callback of listeners) {
      try {
        callback(state);
      } catch (error) {
        console.error(error);
      }
    }
  }

  function schedule(lifetimeMs) {
    clearTimeout(timer);
    if (closed) return;
    // A fifth of the lifetime early (at most a minute), less some jitter so tabs do not
    // all wake at once.
    const lead = Math.min(60_000, lifetimeMs / 5);
    const jitter = Math.random() * Math.min(10_000, lifetimeMs / 20);
    timer = setTimeout(onTimer, Math.max(1_000, lifetimeMs - lead - jitter));
  }

  async function onTimer() {
    const ok = await refresh().catch(() => false);
    const remaining = expiresAt - performance.now();
    if (!ok && accessToken !== null && remaining > 2_000) {
      // Identity unreachable: try again while the token still works.
      clearTimeout(timer);
      timer = setTimeout(onTimer, Math.min(15_000, remaining / 2) * (0.75 + Math.random() / 2));
    }
  }

  function adopt(token, expiresInSeconds) {
    const changed = accessToken === null;
    const lifetimeMs = Math.max(0, Number(expiresInSeconds) || 0) * 1000;
    accessToken = token;
    expiresAt = performance.now() + lifetimeMs; // our own clock, never `exp` vs Date.now()
    schedule(lifetimeMs);
    if (changed) notify();
  }

  function drop() {
    clearTimeout(timer);
    const changed = accessToken !== null;
    accessToken = null;
    expiresAt = 0;
    if (changed) notify();
  }

  async function signedIn(response) {
    const body = await response.json();
    adopt(body.access_token, body.expires_in);
    await tabs.publish({ type: "token", token: body.access_token, expiresIn: body.expires_in });
  }

  async function signedOut() {
    drop();
    await tabs.publish({ type: "logout" });
  }

  // With `retry`, a 503 carrying Retry-After is sent again after that delay (with jitter),
  // within RETRY_503_BUDGET_MS. Safe for these calls: a refresh identity may have completed
  // after all is answered by its grace window. Logout passes retry: false (its 503 already
  // cleared the cookie, so a second try would sign out nothing).
  async function post(path, { body, bearer, retry = true } = {}) {
    const headers = { "X-Requested-With": REQUESTED_WITH };
    const init = { method: "POST", headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    let budget = RETRY_503_BUDGET_MS;
    for (;;) {
      const response = await fetch(basePath + path, init);
      const seconds = Number.parseInt(response.headers.get("Retry-After") || "", 10);
      if (!retry || response.status !== 503 || !(seconds >= 0)) return response;
      const wait = Math.max(100, seconds * 1000 * (0.75 + Math.random() / 2));
      if (wait > budget || closed) return response;
      budget -= wait;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  // Under the cookie lock only. True when this tab holds a fresh access token afterwards.
  async function refreshLocked() {
    const response = await post("/auth/refresh");
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
  function refresh() {
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

  const started =
    options.silentRefresh === false
      ? tabs.join().then(() => false)
      : tabs.join().then(() => refresh().catch(() => false));

  function mayCarryToken(url) {
    try {
      return tokenOrigins.has(new URL(url, location.href).origin);
    } catch {
      return false;
    }
  }

  function withBearer(request, token) {
    const headers = new Headers(request.headers);
    if (token) headers.set("Authorization", `Bearer ${token}`);
    return new Request(request, { headers });
  }

  /** fetch with the access token; on 401 one shared refresh, then one retry. */
  async function authFetch(input, init) {
    const request = new Request(input, init);
    if (!mayCarryToken(request.url)) return fetch(request);
    await started;
    const used = accessToken;
    const response = await fetch(withBearer(request.clone(), used));
    if (response.status !== 401) return response;
    const renewed =
      accessToken !== null && accessToken !== used ? true : await refresh().catch(() => false);
    if (!renewed || accessToken === null) return response;
    return fetch(withBearer(request, accessToken));
  }

  async function login(email, password) {
    await tabs.withCookieLock(async () => {
      const response = await post("/auth/login", { body: { email, password } });
      if (!response.ok) throw await toError(response);
      await signedIn(response);
    });
  }

  async function register(email, password) {
    const response = await post("/auth/register", { body: { email, password } });
    if (!response.ok) throw await toError(response);
    return response.json();
  }

  async function logout() {
    await tabs.withCookieLock(async () => {
      let response;
      try {
        response = await post("/auth/logout", { retry: false });
      } finally {
        await signedOut(); // the edge cleared the cookie; sign out here whatever happened
      }
      if (!response.ok) throw await toError(response);
    });
  }

  async function logoutAll() {
    await tabs.withCookieLock(async () => {
      let response = await post("/auth/logout-all", { bearer: accessToken });
      if (response.status === 401 && (await refreshLocked())) {
        response = await post("/auth/logout-all", { bearer: accessToken });
      }
      if (!response.ok) throw await toError(response);
      await signedOut();
    });
  }

  function onVisible() {
    if (document.visibilityState !== "visible" || accessToken === null) return;
    // Background tabs have their timers throttled: catch up when shown again.
    if (expiresAt - performance.now() < 30_000) refresh().catch(() => false);
  }
  if (typeof document !== "undefined") document.addEventListener("visibilitychange", onVisible);

  return {
    login,
    register,
    logout,
    logoutAll,
    fetch: authFetch,
    isAuthenticated: () => accessToken !== null,
    onChange(callback) {
      listeners.add(callback);
      return () => listeners.delete(callback);
    },
    /** Resolves once the silent refresh on creation has finished (true when signed in). */
    ready: () => started.then(() => accessToken !== null),
    close() {
      closed = true;
      clearTimeout(timer);
      tabs.close();
      if (typeof document !== "undefined") document.removeEventListener("visibilitychange", onVisible);
    },
  };
}
