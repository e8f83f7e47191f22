/**
 * Cross-tab coordination: the cookie lock, the session epoch and the channel, each with a
 * fallback for browsers without it.
 *
 * - Every call that changes the refresh cookie (login, refresh, logout, logout-all) runs under
 *   one Web Lock, so the browser never has two of them in flight.
 * - Each change gets a new session epoch. The tab that made it broadcasts the epoch with the new
 *   access token (or the sign-out) on a BroadcastChannel and, before it lets go of the cookie
 *   lock, also holds a shared Web Lock named after the epoch. The next tab to take the cookie
 *   lock reads the newest epoch from `navigator.locks.query()`: if the cookie changed after that
 *   tab decided to refresh, it waits for the broadcast and adopts its result instead of sending
 *   a call made stale by the change. Lock state, unlike message delivery, is consistent the
 *   moment the lock is granted.
 *
 * Without Web Locks or BroadcastChannel each tab works on its own; the server's grace window
 * then absorbs concurrent refreshes of one cookie.
 */

const COOKIE_LOCK = "auth-client:refresh-cookie";
const EPOCH_LOCK_PREFIX = "auth-client:epoch:";
const CHANNEL_NAME = "auth-client";
const BROADCAST_WAIT_MS = 1000;

/** What one tab tells the others after it changed the refresh cookie. */
export type TabMessage =
  | { readonly type: "token"; readonly token: string; readonly expiresIn: number }
  | { readonly type: "logout" };

type Stamped = TabMessage & { readonly epoch: number };

export interface Tabs {
  /** The newest epoch this tab has seen. */
  readonly epoch: number;
  /** Run `task` under the cookie lock (a per-tab queue without Web Locks). */
  withCookieLock<T>(task: () => Promise<T>): Promise<T>;
  /** The newest epoch any tab has published (the local one without Web Locks). */
  latest(): Promise<number>;
  /** Resolves true once a broadcast brought this tab to `target`, false after a while. */
  waitFor(target: number): Promise<boolean>;
  /** Call under the cookie lock after changing the cookie: a new epoch, told to every tab. */
  publish(message: TabMessage): Promise<void>;
  /** Take the epoch of the tabs already open, so that their past changes count as seen. */
  join(): Promise<void>;
  close(): void;
}

function parse(data: unknown): Stamped | null {
  if (typeof data !== "object" || data === null) return null;
  const message = data as Record<string, unknown>;
  if (typeof message["epoch"] !== "number") return null;
  const epoch = message["epoch"];
  if (message["type"] === "logout") return { type: "logout", epoch };
  if (message["type"] === "token" && typeof message["token"] === "string") {
    return { type: "token", token: message["token"], expiresIn: Number(message["expiresIn"]), epoch };
  }
  return null;
}

function webLocks(): LockManager | null {
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  return nav?.locks && typeof nav.locks.request === "function" ? nav.locks : null;
}

export function createTabs(onMessage: (message: TabMessage) => void): Tabs {
  const locks = webLocks();
  const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL_NAME) : null;
  let queue: Promise<unknown> = Promise.resolve(); // per-tab stand-in for the cookie lock
  let releaseEpochLock: (() => void) | null = null;
  let epoch = 0;
  const waiters = new Set<() => void>();

  function advance(value: number): void {
    if (value <= epoch) return;
    epoch = value;
    for (const waiter of [...waiters]) waiter();
  }

  if (channel) {
    channel.onmessage = (event: MessageEvent<unknown>) => {
      const message = parse(event.data);
      if (message === null || message.epoch < epoch) return; // older than what this tab knows
      advance(message.epoch);
      onMessage(message);
    };
  }

  async function latest(): Promise<number> {
    if (!locks || typeof locks.query !== "function") return epoch;
    const { held = [] } = await locks.query();
    let newest = epoch;
    for (const { name } of held) {
      if (name?.startsWith(EPOCH_LOCK_PREFIX)) {
        newest = Math.max(newest, Number(name.slice(EPOCH_LOCK_PREFIX.length)) || 0);
      }
    }
    return newest;
  }

  return {
    get epoch() {
      return epoch;
    },

    withCookieLock<T>(task: () => Promise<T>): Promise<T> {
      // lib.dom types the callback's promise as the lock's value; the browser awaits it.
      if (locks) return locks.request(COOKIE_LOCK, task) as unknown as Promise<T>;
      const run = queue.then(() => task());
      queue = run.catch(() => undefined);
      return run;
    },

    latest,

    waitFor(target: number): Promise<boolean> {
      if (epoch >= target) return Promise.resolve(true);
      if (!channel) return Promise.resolve(false);
      return new Promise((resolve) => {
        const done = (result: boolean): void => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(result);
        };
        const check = (): void => {
          if (epoch >= target) done(true);
        };
        const timer = setTimeout(() => done(false), BROADCAST_WAIT_MS);
        waiters.add(check);
      });
    },

    async publish(message: TabMessage): Promise<void> {
      // Date.now() keeps epochs comparable with tabs opened later; +1 keeps them growing.
      advance(Math.max(epoch + 1, Date.now()));
      const value = epoch;
      if (channel) channel.postMessage({ ...message, epoch: value });
      if (!locks) return;
      const previous = releaseEpochLock;
      await new Promise<void>((granted) => {
        void locks.request(`${EPOCH_LOCK_PREFIX}${value}`, { mode: "shared" }, () => {
          granted();
          return new Promise<void>((release) => {
            releaseEpochLock = release;
          });
        });
      });
      if (previous) previous();
    },

    async join(): Promise<void> {
      advance(await latest());
    },

    close(): void {
      if (channel) channel.close();
      if (releaseEpochLock) releaseEpochLock();
    },
  };
}
