// The core client in Node (no document: no hint to read, no Web Locks): fetch's single-flight
// refresh and single replay, getAccessToken, the typed state.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { createAuthClient } from "../dist/index.js";
import { startFakeEdge } from "./fake-edge.mjs";

let edge;
let client;

before(async () => {
  edge = await startFakeEdge();
  globalThis.location = new URL(`${edge.url}/`);
});

after(() => edge.close());

beforeEach((t) => {
  Object.assign(edge.state, { refreshes: 0, seen: [], refuseAll: false, noSession: false });
  client = createAuthClient({ basePath: edge.url });
  t.after(() => client.close());
});

test("a silent refresh signs in; the state says so with the token's claims", async () => {
  const states = [];
  client.onChange((state) => states.push(state));
  assert.equal(client.getState().status, "loading");
  assert.equal(await client.ready(), true);
  const state = client.getState();
  assert.equal(state.status, "signedIn");
  assert.equal(state.authenticated, true);
  assert.equal(state.claims.sub, "user-1");
  assert.ok(Object.isFrozen(state));
  assert.equal(client.getState(), state); // the same object until something changes
  assert.deepEqual(states, [state]);
});

test("no session: signedOut, and fetch sends no token", async () => {
  edge.state.noSession = true;
  assert.equal(await client.ready(), false);
  assert.equal(client.getState().status, "signedOut");
  assert.equal(await client.getAccessToken(), null);
  assert.equal((await client.fetch(`${edge.url}/api/me`)).status, 401);
  assert.equal(edge.calls("/api/me")[0].authorization, null);
});

test("ten parallel fetches after the token went stale share one refresh", async () => {
  await client.ready();
  const before = edge.state.refreshes;
  edge.invalidate();
  const answers = await Promise.all(Array.from({ length: 10 }, () => client.fetch(`${edge.url}/api/me`)));
  assert.deepEqual(answers.map((a) => a.status), Array(10).fill(200));
  assert.equal(edge.state.refreshes - before, 1);
});

test("a second 401 is returned after one replay", async () => {
  await client.ready();
  edge.state.refuseAll = true;
  assert.equal((await client.fetch(`${edge.url}/api/me`)).status, 401);
  assert.equal(edge.calls("/api/me").length, 2);
});

test("getAccessToken refreshes once for many callers when there is no token", async () => {
  edge.state.noSession = true;
  await client.ready();
  edge.state.noSession = false;
  const before = edge.state.refreshes;
  const tokens = await Promise.all(Array.from({ length: 5 }, () => client.getAccessToken()));
  assert.equal(new Set(tokens).size, 1);
  assert.notEqual(tokens[0], null);
  assert.equal(edge.state.refreshes - before, 1);
});
