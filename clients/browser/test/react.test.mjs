// AuthProvider and useAuth in jsdom with React (19 here; examples/react-app runs 18 in
// Chromium): the status, one snapshot between changes, the other tab's logout, the hint.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { JSDOM } from "jsdom";
import { startFakeEdge } from "./fake-edge.mjs";

let edge;
let dom;
let React;
let act;
let createRoot;
let createAuthClient;
let AuthProvider;
let useAuth;

before(async () => {
  edge = await startFakeEdge();
  dom = new JSDOM("<!doctype html><div id=root></div>", { url: `${edge.url}/` });
  for (const name of ["window", "document", "navigator", "location", "HTMLElement"]) {
    globalThis[name] = dom.window[name];
  }
  globalThis.IS_REACT_ACT_ENVIRONMENT = true;
  React = await import("react");
  ({ act } = React);
  ({ createRoot } = await import("react-dom/client"));
  ({ createAuthClient } = await import("../dist/index.js"));
  ({ AuthProvider, useAuth } = await import("../dist/react.js"));
});

after(async () => {
  dom.window.close();
  await edge.close();
});

beforeEach(() => {
  Object.assign(edge.state, { refreshes: 0, seen: [], refuseAll: false, noSession: false });
  document.cookie = "refresh_hint=; max-age=0";
});

/** Renders <AuthProvider client><Probe/></AuthProvider>; `seen` gets every value useAuth returned. */
async function mount(client) {
  const seen = [];
  function Probe() {
    const auth = useAuth();
    seen.push(auth);
    return React.createElement("p", null, auth.status);
  }
  const root = createRoot(document.createElement("div"));
  const render = () => root.render(React.createElement(AuthProvider, { client }, React.createElement(Probe)));
  await act(async () => render());
  return { seen, render, unmount: () => act(async () => root.unmount()) };
}

async function until(condition) {
  for (let i = 0; i < 100 && !condition(); i += 1) {
    await act(() => new Promise((resolve) => setTimeout(resolve, 10)));
  }
  assert.ok(condition());
}

test("a signed-out load (no hint cookie) asks the edge nothing and settles signedOut", async (t) => {
  const client = createAuthClient({ basePath: edge.url });
  t.after(() => client.close());
  const view = await mount(client);
  await act(() => client.ready());
  assert.deepEqual(view.seen.map((a) => a.status), ["loading", "signedOut"]);
  assert.deepEqual(edge.state.seen, []);
  await view.unmount();
});

test("with the hint the silent refresh signs in; one snapshot between changes", async (t) => {
  document.cookie = "refresh_hint=1";
  const client = createAuthClient({ basePath: edge.url });
  t.after(() => client.close());
  const view = await mount(client);
  await act(() => client.ready());
  const auth = view.seen.at(-1);
  assert.equal(auth.status, "signedIn");
  assert.equal(auth.claims.sub, "user-1");
  assert.equal(auth.login, client.login);
  assert.equal(edge.state.refreshes, 1);
  // A parent re-rendering without a change gets the very same object: nothing to re-render for.
  await act(async () => view.render());
  assert.equal(view.seen.at(-1), auth);
  assert.ok(Object.isFrozen(auth));
  await view.unmount();
});

test("a logout in another tab signs this one out", async (t) => {
  document.cookie = "refresh_hint=1";
  const here = createAuthClient({ basePath: edge.url });
  const there = createAuthClient({ basePath: edge.url });
  t.after(() => (here.close(), there.close()));
  const view = await mount(here);
  await act(async () => (await here.ready(), await there.ready()));
  await until(() => view.seen.at(-1).status === "signedIn");
  await act(() => there.logout());
  await until(() => view.seen.at(-1).status === "signedOut");
  assert.equal(view.seen.at(-1).claims, null);
  await view.unmount();
});

test("login through useAuth updates every component", async (t) => {
  const client = createAuthClient({ basePath: edge.url });
  t.after(() => client.close());
  const view = await mount(client);
  await act(() => client.ready());
  await act(() => view.seen.at(-1).login("ada@example.com", "a long enough password"));
  assert.equal(view.seen.at(-1).status, "signedIn");
  await view.unmount();
});

test("useAuth offers the second factor's calls, bound to the client", async (t) => {
  const client = createAuthClient({ basePath: edge.url, silentRefresh: false });
  t.after(() => client.close());
  const view = await mount(client);
  const auth = view.seen.at(-1);
  for (const name of [
    "completeLogin",
    "stepUp",
    "getSecondFactor",
    "beginTotpEnrollment",
    "confirmTotpEnrollment",
    "disableTotp",
    "regenerateRecoveryCodes",
  ]) {
    assert.equal(auth[name], client[name], name);
  }
  await act(() => auth.login("ada@example.com", "a long enough password"));
  await act(() => view.seen.at(-1).stepUp("123456"));
  assert.equal(view.seen.at(-1).claims.acr, "aal2");
  await view.unmount();
});

test("useAuth outside an AuthProvider says what is missing", async () => {
  function Orphan() {
    useAuth();
    return null;
  }
  const root = createRoot(document.createElement("div"));
  const errors = [];
  const original = console.error;
  console.error = (...args) => errors.push(args);
  try {
    const rendering = async () => act(async () => root.render(React.createElement(Orphan)));
    await assert.rejects(rendering, /inside <AuthProvider/);
  } finally {
    console.error = original;
  }
});
