// The demo page's account lifecycle over email (DESIGN §12): "Forgot password?", the views the
// mailed links open (#/reset-password, #/verify-email, #/confirm-email), the banner of a signed-in
// user whose address is not verified yet, and email change. Like app.js, everything shown is
// written with textContent.
//
// A link's token is read from the URL fragment (which no server and no Referer sees) and taken
// out of the address bar as this module loads, before app.js creates the client, so that it
// stays neither in the history nor on the screen.

const ROUTES = ["reset-password", "verify-email", "confirm-email"];
// The edge's one answer for a used, expired, voided or unknown link (a refused password differs).
const INVALID_LINK = "invalid or expired link";

/** The mailed link in the address bar, if there is one, removed from it. */
function takeLink() {
  const match = /^#\/([a-z-]+)(?:\?(.*))?$/.exec(location.hash);
  if (!match || !ROUTES.includes(match[1])) return null;
  history.replaceState(history.state, "", location.pathname + location.search);
  const token = new URLSearchParams(match[2] ?? "").get("token");
  return token ? { route: match[1], token } : null;
}

const openedWith = takeLink();

/** `ui`: the page's helpers from app.js ($, busy, say, toast, describeError, selectTab). */
export function setUpAccountMail(auth, ui) {
  const { $, busy, say, toast, describeError, selectTab } = ui;

  // ---- dev inbox: only `identity dev` fills in the marker -------------------------------------
  const inbox = document.querySelector('meta[name="dev-inbox"]')?.content;
  if (inbox) {
    for (const item of document.querySelectorAll(".dev-inbox-link")) {
      (item.tagName === "A" ? item : item.querySelector("a")).href = inbox;
      item.hidden = false;
    }
  }

  function notice(text, kind = "success") {
    $("notice-text").textContent = text;
    $("notice").dataset.kind = kind;
    $("notice").hidden = false;
  }

  // The claim changes only in a new access token: get one now rather than at the next refresh.
  async function renewToken() {
    const token = await auth.getAccessToken();
    if (token !== null) await auth.renewAccessToken(token);
  }

  // ---- forgot password ------------------------------------------------------------------------
  // selectTab (app.js) hides the forgot form again.
  function showForgot() {
    $("forgot-form").hidden = false;
    $("login-form").hidden = true;
  }
  $("forgot-open").addEventListener("click", () => {
    const typed = $("login-form").elements.namedItem("email").value;
    $("forgot-form").elements.namedItem("email").value = typed;
    say("");
    showForgot();
  });
  $("forgot-cancel").addEventListener("click", () => selectTab("login"));
  $("forgot-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const email = String(new FormData(form).get("email"));
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        await auth.requestPasswordReset(email);
        form.reset();
        selectTab("login");
        say("If an account uses that address, a reset link is on its way.", "success");
      } catch (error) {
        say(describeError(error));
      }
    });
  });

  // ---- reset password (from the mailed link) --------------------------------------------------
  let resetToken = null;
  function showReset(token) {
    resetToken = token;
    document.body.dataset.view = token ? "reset" : "";
    $("reset-panel").hidden = !token;
    $("reset-message").textContent = "";
  }
  $("reset-cancel").addEventListener("click", () => showReset(null));
  $("reset-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const password = String(new FormData(form).get("password"));
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        await auth.resetPassword(resetToken, password);
      } catch (error) {
        if (error?.status === 400 && error.message === INVALID_LINK) {
          showReset(null);
          if (auth.isAuthenticated()) {
            notice("That link is invalid or has expired.", "error");
          } else {
            selectTab("login");
            showForgot();
            say("That link is invalid or has expired: ask for a new one.");
          }
        } else {
          const message = $("reset-message"); // a refused password: the link stays usable
          message.textContent = describeError(error);
          message.dataset.kind = "error";
        }
        return;
      }
      form.reset();
      showReset(null);
      // The reset ended every session, this one too: sign this tab out (its cookie is dead).
      if (auth.isAuthenticated()) await auth.logout().catch(() => {});
      selectTab("login");
      say("Your password is changed. Sign in with the new one.", "success");
    });
  });

  // ---- verify / confirm (from the mailed link) ------------------------------------------------
  async function openLink(link) {
    if (link.route === "reset-password") {
      showReset(link.token);
      return;
    }
    const signedIn = await auth.ready();
    try {
      if (link.route === "verify-email") {
        await auth.verifyEmail(link.token);
        notice("Your address is verified.");
      } else {
        await auth.confirmEmailChange(link.token);
        notice("Your new address is confirmed: sign in with it from now on.");
      }
    } catch (error) {
      const text = error?.message === INVALID_LINK ? "That link is invalid or has expired." : describeError(error);
      notice(text, "error");
      return;
    }
    if (signedIn) await renewToken().catch(() => {});
  }

  function onAddress() {
    const link = takeLink();
    if (link) openLink(link);
  }
  window.addEventListener("hashchange", onAddress);
  if (openedWith) openLink(openedWith);

  // ---- signed in: verify banner and email change ----------------------------------------------
  function showBanner(state) {
    $("verify-banner").hidden = !(state.authenticated && state.claims?.email_verified === false);
  }
  auth.onChange(showBanner);
  showBanner(auth.getState());

  $("verify-resend").addEventListener("click", (event) =>
    busy(event.currentTarget, async () => {
      try {
        await auth.resendVerification();
        toast("A new link is on its way.", "success");
      } catch (error) {
        toast(describeError(error), "error");
      }
    }),
  );

  $("email-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const newEmail = String(data.get("new_email"));
    await busy(form.querySelector("button[type=submit]"), async () => {
      try {
        await auth.changeEmail(newEmail, String(data.get("password")));
        form.reset();
        toast(`We mailed a link to ${newEmail}: your address changes once you open it.`, "success");
      } catch (error) {
        toast(describeError(error), "error");
      }
    });
  });
}
