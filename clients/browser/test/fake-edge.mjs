// A stand-in for the edge on a real port: tokens with a JWT-shaped payload, a refresh counter,
// and switches to make tokens stale or every call unauthorized. For the unit tests only; the
// real edge is exercised by tests/browser (Chromium).
import { createServer } from "node:http";

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

export async function startFakeEdge() {
  let generation = 0;
  let current = null;
  const state = {
    refreshes: 0,
    /** Requests seen, in order: { method, path, authorization, headers, body }. */
    seen: [],
    /** When true, every protected call answers 401 whatever token it carries. */
    refuseAll: false,
    /** When true, /auth/refresh answers 401 (no session). */
    noSession: false,
    /** path -> { status, body?, headers?, method? (POST) }: what the account-lifecycle paths answer. */
    answers: {},
    /** When true, login answers that a second factor is needed (code "123456" completes it). */
    secondFactor: false,
    /** The acr of the tokens issued (step-up and completed logins issue "aal2"). */
    acr: "aal1",
  };
  const STEP_UP_CHALLENGE =
    'Bearer error="insufficient_user_authentication", error_description="a second factor is required", acr_values="aal2", max_age=300';

  function issue(acr = state.acr) {
    generation += 1;
    state.acr = acr;
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: "http://edge.test", sub: "user-1", aud: "api", sid: "s-1", iat: now, exp: now + 600, gen: generation, acr };
    current = `${b64url({ alg: "none", typ: "at+jwt" })}.${b64url(claims)}.sig${generation}`;
    return { access_token: current, token_type: "Bearer", expires_in: 600 };
  }

  function send(res, status, body, headers = {}) {
    const type = body === undefined ? {} : { "Content-Type": status < 400 ? "application/json" : "application/problem+json" };
    res.writeHead(status, { ...type, ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const request = { method: req.method, path, authorization: req.headers.authorization ?? null, headers: req.headers, body: null };
    state.seen.push(request);
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      if (chunks.length) request.body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      const answer = state.answers[path];
      const authorized = current !== null && !state.refuseAll && req.headers.authorization === `Bearer ${current}`;
      if (answer && req.method === (answer.method ?? "POST")) {
        if (answer.bearer) {
          if (current === null || state.refuseAll || req.headers.authorization !== `Bearer ${current}`) {
            return send(res, 401, { status: 401, code: "unauthenticated" });
          }
        }
        return send(res, answer.status, answer.body, answer.headers);
      }
      if (req.method === "POST" && path === "/auth/login") {
        if (!state.secondFactor) return send(res, 200, issue());
        return send(res, 200, { second_factor_required: true, mfa_ticket: "idmt_ticket", mfa_ticket_expires_in: 300 });
      }
      const code = request.body?.code;
      if (req.method === "POST" && path === "/auth/login/second-factor") {
        if (request.body?.mfa_ticket !== "idmt_ticket" || code !== "123456") {
          return send(res, 401, { status: 401, code: "unauthenticated", detail: "invalid or expired ticket or code" });
        }
        return send(res, 200, issue("aal2"));
      }
      if (req.method === "POST" && (path === "/auth/step-up" || path === "/auth/second-factor/totp/confirm")) {
        if (!authorized || code !== "123456") return send(res, 401, { status: 401, code: "unauthenticated" });
        const recovery = path.endsWith("/confirm") ? { recovery_codes: ["aaaa-bbbb-cccc-dddd", "eeee-ffff-gggg-hhhh"] } : {};
        return send(res, 200, { ...recovery, ...issue("aal2") });
      }
      if (path === "/api/me/sensitive") {
        if (!authorized) return send(res, 401, { status: 401, code: "unauthenticated" }, { "WWW-Authenticate": 'Bearer error="invalid_token"' });
        if (state.acr !== "aal2") {
          return send(res, 401, { status: 401, code: "insufficient_user_authentication", detail: "step up" }, { "WWW-Authenticate": STEP_UP_CHALLENGE });
        }
        return send(res, 200, { sub: "user-1", acr: "aal2" });
      }
      if (req.method === "POST" && path === "/auth/refresh") {
        state.refreshes += 1;
        if (state.noSession) return send(res, 401, { status: 401, code: "unauthenticated", detail: "no session" });
        return send(res, 200, issue());
      }
      if (req.method === "POST" && path === "/auth/logout") {
        current = null;
        return send(res, 204);
      }
      if (path === "/api/me" || path === "/other/echo") {
        const ok = !state.refuseAll && current !== null && req.headers.authorization === `Bearer ${current}`;
        return ok ? send(res, 200, { sub: "user-1" }) : send(res, 401, { status: 401, code: "unauthenticated" });
      }
      return send(res, 404, { status: 404 });
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    state,
    /** Makes the token the client holds stale, as its expiry would. */
    invalidate() {
      current = `stale-${generation}`;
    },
    calls(path) {
      return state.seen.filter((r) => r.path === path);
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
