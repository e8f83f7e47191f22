// The account-lifecycle calls (DESIGN §12) against the fake edge: what each sends (path, JSON
// body, CSRF header, Bearer token where signed in) and how a refusal surfaces (AuthError with
// the problem+json body and Retry-After).
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { AuthError, createAuthClient } from "../dist/index.js";
import { startFakeEdge } from "./fake-edge.mjs";

let edge;
let client;

before(async () => {
  edge = await startFakeEdge();
  globalThis.location = new URL(`${edge.url}/`);
});

after(() => edge.close());

beforeEach((t) => {
  Object.assign(edge.state, { refreshes: 0, seen: [], refuseAll: false, noSession: false, answers: {} });
  client = createAuthClient({ basePath: edge.url });
  t.after(() => client.close());
});

// What the edge answers for any used, expired, voided or unknown link.
const BAD_LINK = { status: 400, code: "invalid_request", detail: "invalid or expired link" };

function only(path) {
  const calls = edge.calls(path);
  assert.equal(calls.length, 1, `${path} called ${calls.length} times`);
  assert.equal(calls[0].method, "POST");
  assert.equal(calls[0].headers["x-requested-with"], "auth-client");
  assert.match(calls[0].headers["content-type"] ?? "application/json", /^application\/json/);
  return calls[0];
}

test("requestPasswordReset posts the address and resolves on the 202", async () => {
  edge.state.answers["/auth/password-reset"] = { status: 202 };
  assert.equal(await client.requestPasswordReset("ada@example.com"), undefined);
  const call = only("/auth/password-reset");
  assert.deepEqual(call.body, { email: "ada@example.com" });
  assert.equal(call.authorization, null);
});

test("a throttled reset request rejects with the problem and Retry-After", async () => {
  edge.state.answers["/auth/password-reset"] = {
    status: 429,
    body: { status: 429, code: "rate_limited", detail: "too many attempts" },
    headers: { "Retry-After": "17" },
  };
  const error = await client.requestPasswordReset("ada@example.com").catch((e) => e);
  assert.ok(error instanceof AuthError);
  assert.equal(error.status, 429);
  assert.equal(error.code, "rate_limited");
  assert.equal(error.retryAfter, 17);
});

test("resetPassword sends the token and the new password, without a Bearer token", async () => {
  edge.state.answers["/auth/password-reset/confirm"] = { status: 204 };
  await client.ready();
  await client.resetPassword("idpr_abc", "a new long passphrase");
  const call = only("/auth/password-reset/confirm");
  assert.deepEqual(call.body, { token: "idpr_abc", password: "a new long passphrase" });
  assert.equal(call.authorization, null);
});

test("a bad link and a refused password are told apart by the problem's detail", async () => {
  edge.state.answers["/auth/password-reset/confirm"] = { status: 400, body: BAD_LINK };
  const bad = await client.resetPassword("idpr_used", "a new long passphrase").catch((e) => e);
  assert.ok(bad instanceof AuthError);
  assert.equal(bad.status, 400);
  assert.equal(bad.code, "invalid_request");
  assert.equal(bad.message, "invalid or expired link");
  edge.state.answers["/auth/password-reset/confirm"] = {
    status: 400,
    body: { status: 400, code: "invalid_request", detail: "the password is too common" },
  };
  const weak = await client.resetPassword("idpr_ok", "password").catch((e) => e);
  assert.equal(weak.status, 400);
  assert.equal(weak.message, "the password is too common");
});

test("verifyEmail and confirmEmailChange send the token alone", async () => {
  edge.state.answers["/auth/verify-email"] = { status: 204 };
  edge.state.answers["/auth/email/confirm"] = { status: 204 };
  await client.verifyEmail("idev_one");
  await client.confirmEmailChange("idev_two");
  assert.deepEqual(only("/auth/verify-email").body, { token: "idev_one" });
  assert.deepEqual(only("/auth/email/confirm").body, { token: "idev_two" });
  edge.state.answers["/auth/verify-email"] = { status: 400, body: BAD_LINK };
  await assert.rejects(client.verifyEmail("idev_old"), (e) => e instanceof AuthError && e.status === 400);
});

test("resendVerification sends the access token", async () => {
  edge.state.answers["/auth/verify-email/resend"] = { status: 202, bearer: true };
  await client.ready();
  await client.resendVerification();
  const call = only("/auth/verify-email/resend");
  assert.equal(call.authorization, `Bearer ${await client.getAccessToken()}`);
  assert.equal(call.body, null);
});

test("changeEmail sends new_email and password with the access token", async () => {
  edge.state.answers["/auth/email"] = { status: 202, bearer: true };
  await client.ready();
  await client.changeEmail("new@example.com", "the current password");
  const call = only("/auth/email");
  assert.deepEqual(call.body, { new_email: "new@example.com", password: "the current password" });
  assert.match(call.authorization, /^Bearer /);
});

test("a stale token is refreshed once and the signed-in call replayed", async () => {
  edge.state.answers["/auth/email"] = { status: 202, bearer: true };
  await client.ready();
  edge.invalidate();
  const before = edge.state.refreshes;
  await client.changeEmail("new@example.com", "the current password");
  assert.equal(edge.state.refreshes - before, 1);
  const calls = edge.calls("/auth/email");
  assert.equal(calls.length, 2);
  assert.notEqual(calls[0].authorization, calls[1].authorization);
});

test("signed out, the signed-in calls reject with 401 and send nothing", async () => {
  edge.state.noSession = true;
  edge.state.answers["/auth/verify-email/resend"] = { status: 202, bearer: true };
  assert.equal(await client.ready(), false);
  const error = await client.resendVerification().catch((e) => e);
  assert.ok(error instanceof AuthError);
  assert.equal(error.status, 401);
  assert.equal(edge.calls("/auth/verify-email/resend").length, 0);
});

test("register in required mode resolves with verification_required and no id", async () => {
  edge.state.answers["/auth/register"] = { status: 202, body: { verification_required: true } };
  const answer = await client.register("ada@example.com", "a long passphrase here");
  assert.deepEqual(answer, { verification_required: true });
});
