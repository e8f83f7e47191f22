// attachAxios against a real socket: the header, the one shared refresh, the single replay,
// composition with the app's interceptors, and detaching.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import axios from "axios";
import { StepUpRequiredError, createAuthClient } from "../dist/index.js";
import { attachAxios } from "../dist/axios.js";
import { startFakeEdge } from "./fake-edge.mjs";

const unauthorized = (error) => error.response?.status === 401;

let edge;
let other; // a third-party API on another origin
let client;
let api;

before(async () => {
  edge = await startFakeEdge();
  other = await startFakeEdge();
  globalThis.location = new URL(`${edge.url}/app/`);
});

after(async () => {
  await edge.close();
  await other.close();
});

beforeEach(async (t) => {
  Object.assign(edge.state, { refreshes: 0, seen: [], refuseAll: false, noSession: false, acr: "aal1" });
  other.state.seen = [];
  client = createAuthClient({ basePath: edge.url, silentRefresh: false });
  await client.login("ada@example.com", "a long enough password");
  api = axios.create({ baseURL: edge.url });
  t.after(() => client.close());
});

test("the Bearer header goes to the page's origin only", async () => {
  attachAxios(api, client);
  assert.equal((await api.get("/api/me")).status, 200);
  await assert.rejects(api.get(`${other.url}/other/echo`), unauthorized);
  assert.match(edge.calls("/api/me")[0].authorization, /^Bearer /);
  assert.equal(other.calls("/other/echo")[0].authorization, null);
});

test("ten parallel calls meeting 401 share one refresh and are each replayed once", async () => {
  attachAxios(api, client);
  edge.invalidate();
  const answers = await Promise.all(Array.from({ length: 10 }, () => api.get("/api/me")));
  assert.deepEqual(answers.map((a) => a.status), Array(10).fill(200));
  assert.equal(edge.state.refreshes, 1);
  assert.equal(edge.calls("/api/me").length, 20);
});

test("a second 401 goes to the caller", async () => {
  attachAxios(api, client);
  edge.state.refuseAll = true;
  await assert.rejects(api.get("/api/me"), (error) => {
    assert.equal(error.response.status, 401);
    return true;
  });
  assert.equal(edge.calls("/api/me").length, 2); // the call and one replay, no more
  assert.equal(edge.state.refreshes, 1);
});

test("a 401 that validateStatus accepts is replayed too, and returned when it repeats", async () => {
  attachAxios(api, client);
  edge.invalidate();
  const config = { validateStatus: () => true };
  assert.equal((await api.get("/api/me", config)).status, 200);
  edge.state.refuseAll = true;
  assert.equal((await api.get("/api/me", config)).status, 401);
  assert.equal(edge.calls("/api/me").length, 4);
});

test("requests that never carried our token are left alone", async () => {
  attachAxios(api, client);
  await assert.rejects(api.get(`${other.url}/other/echo`), unauthorized);
  assert.equal(other.calls("/other/echo").length, 1);
  // The app's own credential is neither replaced nor retried.
  const theirs = { headers: { Authorization: "Bearer theirs" } };
  await assert.rejects(api.get("/api/me", theirs), unauthorized);
  assert.equal(edge.calls("/api/me").at(-1).authorization, "Bearer theirs");
  assert.equal(edge.calls("/api/me").length, 1);
  // Signed out: no header and no replay. (Node has no document, hence no hint cookie to read:
  // getAccessToken tries the one refresh a browser would skip.)
  await client.logout();
  edge.state.noSession = true;
  await assert.rejects(api.get("/api/me"), unauthorized);
  assert.equal(edge.calls("/api/me").at(-1).authorization, null);
  assert.equal(edge.calls("/api/me").length, 2);
  assert.equal(edge.state.refreshes, 1);
});

test("the app's interceptors before and after ours each run once, on the replay too", async () => {
  const ran = [];
  api.interceptors.request.use((config) => {
    ran.push("request-before");
    config.headers.set("X-Before", "1");
    return config;
  });
  api.interceptors.response.use(
    (response) => (ran.push("response-before"), response),
    (error) => (ran.push("error-before"), Promise.reject(error)),
  );
  const detach = attachAxios(api, client);
  api.interceptors.request.use((config) => {
    ran.push("request-after");
    config.headers.set("X-After", "1");
    return config;
  });
  // A foreign interceptor that reshapes the answer: run twice, it would break the caller.
  api.interceptors.response.use((response) => (ran.push("response-after"), { body: response.data }));

  edge.invalidate();
  assert.deepEqual(await api.get("/api/me"), { body: { sub: "user-1" } });
  assert.deepEqual(ran.sort(), ["request-after", "request-before", "response-after", "response-before"]);
  for (const seen of edge.calls("/api/me")) {
    assert.equal(seen.headers["x-before"], "1");
    assert.equal(seen.headers["x-after"], "1");
  }
  assert.equal(edge.calls("/api/me").length, 2);

  detach();
  ran.length = 0;
  await assert.rejects(api.get("/api/me"), unauthorized);
  assert.equal(edge.calls("/api/me").at(-1).authorization, null);
  assert.equal(edge.calls("/api/me").at(-1).headers["x-before"], "1");
  assert.deepEqual(ran.sort(), ["error-before", "request-after", "request-before"]);
});

test("a step-up challenge rejects with StepUpRequiredError, unrefreshed; after stepUp it answers", async () => {
  attachAxios(api, client);
  const error = await api.get("/api/me/sensitive").catch((e) => e);
  assert.ok(error instanceof StepUpRequiredError, String(error));
  assert.deepEqual(error.acrValues, ["aal2"]);
  assert.equal(error.maxAge, 300);
  assert.equal(error.code, "insufficient_user_authentication");
  assert.equal(edge.state.refreshes, 0);
  assert.equal(edge.calls("/api/me/sensitive").length, 1);
  await client.stepUp("123456");
  assert.deepEqual((await api.get("/api/me/sensitive")).data, { sub: "user-1", acr: "aal2" });
});

test("a step-up challenge after a refresh's replay is a StepUpRequiredError too", async () => {
  attachAxios(api, client);
  edge.invalidate();
  const error = await api.get("/api/me/sensitive", { validateStatus: () => true }).catch((e) => e);
  assert.ok(error instanceof StepUpRequiredError, String(error));
  assert.equal(edge.state.refreshes, 1);
  assert.equal(edge.calls("/api/me/sensitive").length, 2);
});
