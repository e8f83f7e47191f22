// The second factor against the fake edge: login's second step, step-up (its token adopted here
// and in the other tab), the RFC 9470 challenge surfacing as StepUpRequiredError without a
// refresh, the 403 step_up_required, and calls whose 401 may be the code's never replayed.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { AuthError, StepUpRequiredError, createAuthClient, parseStepUpChallenge } from "../dist/index.js";
import { startFakeEdge } from "./fake-edge.mjs";

let edge;
let client;

before(async () => {
  edge = await startFakeEdge();
  globalThis.location = new URL(`${edge.url}/`);
});

after(() => edge.close());

beforeEach((t) => {
  Object.assign(edge.state, {
    refreshes: 0,
    seen: [],
    refuseAll: false,
    noSession: false,
    answers: {},
    secondFactor: false,
    acr: "aal1",
  });
  client = createAuthClient({ basePath: edge.url, silentRefresh: false });
  t.after(() => client.close());
});

const sensitive = () => client.fetch(`${edge.url}/api/me/sensitive`);

test("login resolves signed-in when no second factor is needed", async () => {
  assert.deepEqual(await client.login("ada@example.com", "a long enough password"), { status: "signed-in" });
  assert.equal(client.isAuthenticated(), true);
});

test("login with a second factor gives the ticket and signs in only with the code", async () => {
  edge.state.secondFactor = true;
  const result = await client.login("ada@example.com", "a long enough password");
  assert.deepEqual(result, { status: "second-factor-required", ticket: "idmt_ticket", expiresIn: 300 });
  assert.equal(client.isAuthenticated(), false);
  const wrong = await client.completeLogin(result.ticket, "000000").catch((e) => e);
  assert.ok(wrong instanceof AuthError);
  assert.equal(wrong.status, 401);
  assert.equal(client.isAuthenticated(), false);
  await client.completeLogin(result.ticket, "123456");
  assert.equal(client.isAuthenticated(), true);
  assert.equal(client.getState().claims.acr, "aal2");
  const [call] = edge.calls("/auth/login/second-factor").slice(-1);
  assert.deepEqual(call.body, { mfa_ticket: "idmt_ticket", code: "123456" });
  assert.equal(call.headers["x-requested-with"], "auth-client");
});

test("a step-up challenge rejects with StepUpRequiredError and is never refreshed or replayed", async () => {
  await client.login("ada@example.com", "a long enough password");
  const error = await sensitive().catch((e) => e);
  assert.ok(error instanceof StepUpRequiredError, String(error));
  assert.ok(error instanceof AuthError);
  assert.equal(error.status, 401);
  assert.deepEqual(error.acrValues, ["aal2"]);
  assert.equal(error.maxAge, 300);
  assert.equal(error.code, "insufficient_user_authentication");
  assert.equal(edge.state.refreshes, 0);
  assert.equal(edge.calls("/api/me/sensitive").length, 1);
});

test("stepUp adopts the new token, and the resource then answers", async () => {
  await client.login("ada@example.com", "a long enough password");
  const before = await client.getAccessToken();
  await client.stepUp("123456");
  const after = await client.getAccessToken();
  assert.notEqual(after, before);
  assert.equal(client.getState().claims.acr, "aal2");
  const [call] = edge.calls("/auth/step-up");
  assert.equal(call.authorization, `Bearer ${before}`);
  assert.deepEqual(call.body, { code: "123456" });
  assert.equal((await sensitive()).status, 200);
});

test("a wrong step-up code is one 401: no refresh, no second try of the code", async () => {
  await client.login("ada@example.com", "a long enough password");
  const error = await client.stepUp("000000").catch((e) => e);
  assert.ok(error instanceof AuthError);
  assert.equal(error.status, 401);
  assert.equal(edge.calls("/auth/step-up").length, 1);
  assert.equal(edge.state.refreshes, 0);
  assert.equal(client.isAuthenticated(), true); // the session is fine: only the code was wrong
});

test("a stepped-up token reaches the other tab", async () => {
  await client.login("ada@example.com", "a long enough password");
  const other = createAuthClient({ basePath: edge.url, silentRefresh: false });
  try {
    await client.stepUp("123456");
    const token = await client.getAccessToken();
    for (let i = 0; i < 100 && other.getState().claims?.acr !== "aal2"; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(other.getState().claims?.acr, "aal2");
    assert.equal(await other.getAccessToken(), token);
  } finally {
    other.close();
  }
});

test("confirmTotpEnrollment resolves with the recovery codes and adopts the aal2 token", async () => {
  await client.login("ada@example.com", "a long enough password");
  const codes = await client.confirmTotpEnrollment("123456");
  assert.deepEqual([...codes], ["aaaa-bbbb-cccc-dddd", "eeee-ffff-gggg-hhhh"]);
  assert.ok(Object.isFrozen(codes));
  assert.equal(client.getState().claims.acr, "aal2");
});

test("beginTotpEnrollment sends the password once, even when refused", async () => {
  await client.login("ada@example.com", "a long enough password");
  edge.state.answers["/auth/second-factor/totp"] = {
    status: 200,
    bearer: true,
    body: { secret: "JBSWY3DPEHPK3PXP", otpauth_uri: "otpauth://totp/x", qr_svg: "<svg/>" },
  };
  const enrollment = await client.beginTotpEnrollment("a long enough password");
  assert.deepEqual({ ...enrollment }, { secret: "JBSWY3DPEHPK3PXP", otpauthUri: "otpauth://totp/x", qrSvg: "<svg/>" });
  edge.state.answers["/auth/second-factor/totp"] = { status: 401, body: { status: 401, code: "unauthenticated" } };
  const error = await client.beginTotpEnrollment("wrong password here").catch((e) => e);
  assert.equal(error.status, 401);
  assert.equal(edge.calls("/auth/second-factor/totp").length, 2);
  assert.equal(edge.state.refreshes, 0);
});

test("getSecondFactor reads the state with the Bearer token", async () => {
  await client.login("ada@example.com", "a long enough password");
  edge.state.answers["/auth/second-factor"] = {
    method: "GET",
    status: 200,
    bearer: true,
    body: { totp_enabled: true, enabled_at: "2026-01-02T03:04:05Z", recovery_codes_left: 9, acr: "aal2", auth_time: 1767322800 },
  };
  assert.deepEqual(
    { ...(await client.getSecondFactor()) },
    { totpEnabled: true, enabledAt: "2026-01-02T03:04:05Z", recoveryCodesLeft: 9, acr: "aal2", authTime: 1767322800 },
  );
  assert.equal(edge.calls("/auth/second-factor")[0].method, "GET");
});

test("403 step_up_required from disable and regenerate is a StepUpRequiredError", async () => {
  await client.login("ada@example.com", "a long enough password");
  const refusal = { status: 403, body: { status: 403, code: "step_up_required", detail: "step up" } };
  edge.state.answers["/auth/second-factor/totp"] = { ...refusal, method: "DELETE" };
  edge.state.answers["/auth/second-factor/recovery-codes"] = refusal;
  for (const call of [() => client.disableTotp(), () => client.regenerateRecoveryCodes()]) {
    const error = await call().catch((e) => e);
    assert.ok(error instanceof StepUpRequiredError, String(error));
    assert.equal(error.status, 403);
  }
  edge.state.answers["/auth/second-factor/totp"] = { status: 204, method: "DELETE", bearer: true };
  edge.state.answers["/auth/second-factor/recovery-codes"] = { status: 200, bearer: true, body: { recovery_codes: ["a", "b"] } };
  assert.equal(await client.disableTotp(), undefined);
  assert.deepEqual([...(await client.regenerateRecoveryCodes())], ["a", "b"]);
  assert.equal(edge.calls("/auth/second-factor/totp").at(-1).method, "DELETE");
});

test("parseStepUpChallenge reads RFC 9470 challenges and nothing else", () => {
  assert.deepEqual(
    parseStepUpChallenge('Bearer error="insufficient_user_authentication", error_description="say \\"hi\\", then", acr_values="aal2 aal3", max_age=300'),
    { acrValues: ["aal2", "aal3"], maxAge: 300 },
  );
  assert.deepEqual(parseStepUpChallenge('bearer error="insufficient_user_authentication"'), { acrValues: [], maxAge: null });
  assert.equal(parseStepUpChallenge('Bearer error="invalid_token"'), null);
  assert.equal(parseStepUpChallenge('Basic realm="x", error="insufficient_user_authentication"'), null);
  assert.equal(parseStepUpChallenge(null), null);
});

test("calls that carry a code are never re-sent after a 503, even with Retry-After", async () => {
  // identity may have spent the code (and the ticket) before the edge gave up: a second try
  // would be refused and counted, and recovery codes shown once would be lost.
  const unavailable = { status: 503, body: { status: 503, code: "unavailable" }, headers: { "Retry-After": "0" } };
  edge.state.secondFactor = true;
  const { ticket } = await client.login("ada@example.com", "a long enough password");
  edge.state.answers["/auth/login/second-factor"] = unavailable;
  assert.equal((await client.completeLogin(ticket, "123456").catch((e) => e)).status, 503);
  assert.equal(edge.calls("/auth/login/second-factor").length, 1);
  edge.state.secondFactor = false;
  edge.state.answers = {};
  await client.login("ada@example.com", "a long enough password");
  for (const path of ["/auth/step-up", "/auth/second-factor/totp/confirm", "/auth/second-factor/totp"]) {
    edge.state.answers[path] = unavailable;
  }
  assert.equal((await client.stepUp("123456").catch((e) => e)).status, 503);
  assert.equal((await client.confirmTotpEnrollment("123456").catch((e) => e)).status, 503);
  assert.equal((await client.beginTotpEnrollment("a long enough password").catch((e) => e)).status, 503);
  for (const path of ["/auth/step-up", "/auth/second-factor/totp/confirm", "/auth/second-factor/totp"]) {
    assert.equal(edge.calls(path).length, 1, path);
  }
});
