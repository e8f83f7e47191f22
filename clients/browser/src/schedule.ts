/** When to refresh: proactively before expiry, and again while identity is unreachable. */

/**
 * Milliseconds from receiving a token of `lifetimeMs` to refreshing it: a fifth of the lifetime
 * early (at most a minute), less some jitter so that tabs do not all wake at once.
 */
export function proactiveDelay(lifetimeMs: number, random: () => number = Math.random): number {
  const lead = Math.min(60_000, lifetimeMs / 5);
  const jitter = random() * Math.min(10_000, lifetimeMs / 20);
  return Math.max(1_000, lifetimeMs - lead - jitter);
}

/** A failed proactive refresh is tried again only while the token still has this much left. */
export const RETRY_WHILE_REMAINING_MS = 2_000;

/** Milliseconds to the next try when a proactive refresh failed and `remainingMs` are left. */
export function retryDelay(remainingMs: number, random: () => number = Math.random): number {
  return Math.min(15_000, remainingMs / 2) * (0.75 + random() / 2);
}

/** Shown again with less than this left, a background tab refreshes at once (its timers were throttled). */
export const CATCH_UP_BELOW_MS = 30_000;

/**
 * A 503 with Retry-After means identity did not complete the call (a replica restarting, say):
 * auth calls are sent again after the delay it asks for, within this much waiting in all.
 */
export const RETRY_503_BUDGET_MS = 10_000;

/** Milliseconds to wait before sending again a call answered 503 with `Retry-After: seconds`. */
export function retryAfterDelay(seconds: number, random: () => number = Math.random): number {
  return Math.max(100, seconds * 1000 * (0.75 + random() / 2));
}
