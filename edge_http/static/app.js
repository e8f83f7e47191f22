// The demo page. Everything shown comes from the server and is written with textContent, never
// as HTML: user agents and addresses in the session list are data, not markup.
import { setUpAccountMail } from "/account-mail.js";
import { createAuthClient } from "/auth-client.js";
import { setUpSecondFactor } from "/second-factor.js";

export const auth = createAuthClient();

const $ = (id) => document.getElementById(id);
const views = { out: $("signed-out"), in: $("signed-in") };
const status = $("status");

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

let toastTimer = null;
function toast(text, kind = "info") {
  const box = $("toast");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    box.hidden = true;
  }, 4000);
}

function dismissToast(kind) {
  const box = $("toast");
  if (box.dataset.kind !== kind) return;
  clearTimeout(toastTimer);
  box.hidden = true;
}

function describeError(error) {
  if (error && error.status === 429 && error.retryAfter) {
    return `Too many attempts. Try again in ${error.retryAfter} s.`;
  }
  if (error && error.status === 503) return "The identity service is unavailable. Try again soon.";
  return (error && error.message) || "Something went wrong.";
}

async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// ---- signed out: sign in / create account ------------------------------------------------------

function selectTab(name) {
  for (const tab of ["login", "register"]) {
    const selected = tab === name;
    $(`tab-${tab}`).setAttribute("aria-selected", String(selected));
    $(`${tab}-form`).hidden = !selected;
  }
  $("forgot-form").hidden = true; // "Forgot password?" (account-mail.js) stands in for sign-in
  $("login-code-form").hidden = true; // the second step of a login (second-factor.js), likewise
  $("auth-message").textContent = "";
}
$("tab-login").addEventListener("click", () => selectTab("login"));
$("tab-register").addEventListener("click", () => selectTab("register"));

function say(text, kind = "error") {
  const message = $("auth-message");
  message.textContent = text;
  message.dataset.kind = kind;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const data = new FormData(form);
  await busy(form.querySelector("button"), async () => {
    try {
      const result = await auth.login(String(data.get("email")), String(data.get("password")));
      form.reset();
      say("");
      if (result.status === "second-factor-required") secondFactor.askLoginCode(result.ticket);
    } catch (error) {
      say(describeError(error));
    }
  });
});

$("register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const data = new FormData(form);
  const email = String(data.get("email"));
  const password = String(data.get("password"));
  await busy(form.querySelector("button"), async () => {
    try {
      const answer = await auth.register(email, password);
      if (answer.verification_required) {
        // IDENTITY_EMAIL_VERIFICATION=required: no sign-in before the mailed link is opened.
        form.reset();
        say("Check your mail: open the link we sent, then sign in.", "success");
        return;
      }
      await auth.login(email, password);
      form.reset();
      say("");
      toast("Account created. You are signed in.", "success");
    } catch (error) {
      say(describeError(error));
    }
  });
});

// ---- signed in: who am I ----------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

function ago(iso) {
  if (!iso) return "—";
  const seconds = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const units = [
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return relative.format(seconds, "second");
}

async function loadWhoAmI() {
  const list = $("whoami");
  const response = await auth.fetch("/api/me");
  if (!response.ok) {
    list.replaceChildren(el("dd", { class: "muted", text: `Not available (${response.status})` }));
    return;
  }
  const me = await response.json();
  const facts = [
    ["User", me.sub],
    ["Session", me.sid],
    ["Scope", me.scope || "—"],
    ["Assurance", me.acr === "aal2" ? "aal2 (password and second factor)" : me.acr || "—"],
    ["Issued", me.iat ? timeFormat.format(new Date(me.iat * 1000)) : "—"],
    ["Expires", me.exp ? timeFormat.format(new Date(me.exp * 1000)) : "—"],
  ];
  list.replaceChildren(
    ...facts.flatMap(([name, value]) => [
      el("dt", { text: name }),
      el("dd", { class: "mono", text: String(value ?? "—") }),
    ]),
  );
}

// ---- signed in: sessions ----------------------------------------------------------------------

function deviceName(userAgent) {
  if (!userAgent) return "Unknown device";
  const browser =
    [
      [/Edg\//, "Edge"],
      [/Firefox\//, "Firefox"],
      [/Chrome\//, "Chrome"],
      [/Safari\//, "Safari"],
      [/curl\//, "curl"],
      [/python-httpx|python-requests/, "Python script"],
    ].find(([pattern]) => pattern.test(userAgent))?.[1] || "Browser";
  const system =
    [
      [/Android/, "Android"],
      [/iPhone|iPad/, "iOS"],
      [/Windows/, "Windows"],
      [/Mac OS X/, "macOS"],
      [/Linux|X11/, "Linux"],
    ].find(([pattern]) => pattern.test(userAgent))?.[1] || null;
  return system ? `${browser} on ${system}` : browser;
}

function sessionItem(session) {
  const badges = el("span", { class: "badges" });
  if (session.current) badges.append(el("span", { class: "badge current", text: "This browser" }));
  if (session.active) {
    badges.append(el("span", { class: "badge active", text: "Active" }));
  } else {
    const text = session.status_text || "ended";
    const reason = text.charAt(0).toUpperCase() + text.slice(1);
    const theft = (session.revoked_reason || "").includes("reuse");
    badges.append(el("span", { class: theft ? "badge alert" : "badge ended", text: reason }));
  }
  const meta = el(
    "p",
    { class: "meta" },
    el("span", { text: `IP ${session.client_ip || "unknown"}` }),
    el("span", { text: `Started ${ago(session.created_at)}` }),
    el("span", {
      text: session.active ? `Last used ${ago(session.last_used_at)}` : `Ended ${ago(session.revoked_at)}`,
    }),
  );
  const agent = el("p", { class: "agent mono", text: session.user_agent || "No user agent", title: session.user_agent || "" });
  const body = el("div", { class: "session-body" }, el("div", { class: "session-title" }, el("strong", { text: deviceName(session.user_agent) }), badges), meta, agent);
  const item = el("li", { class: session.active ? "session" : "session ended" }, body);
  if (session.active) {
    const revoke = el("button", { type: "button", class: "ghost danger-text", text: session.current ? "Sign out" : "Revoke" });
    revoke.addEventListener("click", () => revokeSession(session, revoke));
    item.append(revoke);
  }
  return item;
}

async function loadSessions() {
  const list = $("sessions");
  const response = await auth.fetch("/auth/sessions");
  if (!response.ok) {
    list.replaceChildren(el("li", { class: "empty", text: `Sessions are not available (${response.status}).` }));
    return;
  }
  const { sessions } = await response.json();
  sessions.sort((a, b) => Number(b.active) - Number(a.active) || Number(b.current) - Number(a.current) || (b.created_at || "").localeCompare(a.created_at || ""));
  list.replaceChildren(...(sessions.length ? sessions.map(sessionItem) : [el("li", { class: "empty", text: "No sessions." })]));
}

async function revokeSession(session, button) {
  if (session.current) {
    await busy(button, () => signOut(() => auth.logout()));
    return;
  }
  await busy(button, async () => {
    const response = await auth.fetch(`/auth/sessions/${encodeURIComponent(session.session_id)}`, { method: "DELETE" });
    if (response.ok) toast("Session revoked.", "success");
    else toast(`Could not revoke the session (${response.status}).`, "error");
    await loadSessions();
  });
}

// ---- signed in: actions -----------------------------------------------------------------------

$("whoami-reload").addEventListener("click", (event) => busy(event.currentTarget, loadWhoAmI));
$("sessions-reload").addEventListener("click", (event) => busy(event.currentTarget, loadSessions));

$("logout").addEventListener("click", (event) => busy(event.currentTarget, () => signOut(() => auth.logout())));

$("logout-all").addEventListener("click", (event) =>
  busy(event.currentTarget, async () => {
    if (await signOut(() => auth.logoutAll())) toast("Signed out on every device.", "success");
  }),
);

$("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const data = new FormData(form);
  const body = { current_password: data.get("current_password"), new_password: data.get("new_password") };
  await busy(form.querySelector("button"), async () => {
    const response = await auth.fetch("/auth/password", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (response.ok) {
      const { revoked_sessions: revoked } = await response.json();
      form.reset();
      toast(`Password changed. ${revoked} other session(s) signed out.`, "success");
      await loadSessions();
    } else {
      let detail = `Could not change the password (${response.status}).`;
      try {
        detail = (await response.json()).detail || detail;
      } catch {
        // keep the generic text
      }
      toast(detail, "error");
    }
  });
});

// ---- signed in: two-step verification (second-factor.js) ---------------------------------------

const secondFactor = setUpSecondFactor(auth, {
  $,
  busy,
  say,
  toast,
  describeError,
  selectTab,
  el,
  sessionsChanged: () => loadSessions(),
});

// ---- state ------------------------------------------------------------------------------------

// All the page knows of a session's end: that it was signed in, and whether the user signed out
// here. Why a refresh was refused (expired, revoked elsewhere, reuse) the edge never says: every
// refused refresh is the same 401, and the page does not guess.
let signedIn = false;
let signingOut = false;

/** Run a sign-out the user asked for on this page; true when it went through. */
async function signOut(work) {
  signingOut = true;
  try {
    await work();
    return true;
  } catch (error) {
    toast(describeError(error), "error");
    return false;
  } finally {
    signingOut = false;
  }
}

function render({ authenticated }) {
  const ended = signedIn && !authenticated && !signingOut;
  signedIn = authenticated;
  status.dataset.state = authenticated ? "in" : "out";
  status.textContent = authenticated ? "Signed in" : "Signed out";
  views.in.hidden = !authenticated;
  views.out.hidden = authenticated;
  if (authenticated) {
    loadWhoAmI();
    loadSessions();
    secondFactor.load();
  } else {
    $("whoami").replaceChildren();
    $("sessions").replaceChildren();
    secondFactor.reset();
    selectTab("login");
    dismissToast("success"); // "Account created", "Session revoked", ... belong to the session
    if (ended) say("You were signed out — sign in again.", "notice");
  }
}

// onChange also reports each refreshed token; the page changes only when signing in or out.
let shown = null;
auth.onChange((state) => {
  if (state.status === "loading" || state.authenticated === shown) return;
  shown = state.authenticated;
  render(state);
});
auth.ready().then((authenticated) => {
  if (status.dataset.state !== "loading") return;
  shown = authenticated;
  render({ authenticated });
});

setUpAccountMail(auth, { $, busy, say, toast, describeError, selectTab });
