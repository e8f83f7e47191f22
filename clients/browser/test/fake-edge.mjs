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
    /** path -> { status, body?, headers? }: what the account-lifecycle paths answer. */
    answers: {},
  };

  function issue() {
    generation += 1;
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: "http://edge.test", sub: "user-1", aud: "api", sid: "s-1", iat: now, exp: now + 600, gen: generation };
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
      if (req.method === "POST" && answer) {
        if (answer.bearer) {
          if (current === null || state.refuseAll || req.headers.authorization !== `Bearer ${current}`) {
            return send(res, 401, { status: 401, code: "unauthenticated" });
          }
        }
        return send(res, answer.status, answer.body, answer.headers);
      }
      if (req.method === "POST" && path === "/auth/login") return send(res, 200, issue());
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
