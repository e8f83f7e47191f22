// The demo page's second factor (TOTP with recovery codes): the code prompt of a login that asks
// for one, the "Two-step verification" card (enrol with a QR code, recovery codes shown once,
// new codes, turn off) and the step-up dialog that a sensitive action or a protected change
// opens when the server wants the factor proved again. Like app.js, everything shown is written
// with textContent; the QR code, an SVG from the server, is shown as an <img> from a data: URL,
// where it is drawn and never run (the CSP allows img-src data:, nothing else is needed).
import { StepUpRequiredError } from "/auth-client.js";

/** `ui`: the page's helpers from app.js ($, busy, say, toast, describeError, selectTab, el). */
export function setUpSecondFactor(auth, ui) {
  const { $, busy, say, toast, describeError, selectTab, el } = ui;
  const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

  function message(text, kind = "error") {
    $("mfa-message").textContent = text;
    $("mfa-message").dataset.kind = kind;
  }

  // ---- login: the second step ------------------------------------------------------------------
  let ticket = null;

  function askLoginCode(newTicket) {
    ticket = newTicket;
    $("login-form").hidden = true;
    $("login-code-form").hidden = false;
    $("login-code-form").elements.namedItem("code").focus();
    say("");
  }

  function leaveLoginCode() {
    ticket = null;
    $("login-code-form").reset();
    selectTab("login"); // shows the password form again
  }

  $("login-code-cancel").addEventListener("click", leaveLoginCode);

  $("login-code-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const code = String(new FormData(form).get("code")).trim();
    await busy(form.querySelector("button"), async () => {
      try {
        await auth.completeLogin(ticket, code);
        ticket = null;
        form.reset();
        say("");
      } catch (error) {
        form.elements.namedItem("code").select();
        // One answer for a wrong code and a dead ticket: after a few, start over.
        say(error.status === 401 ? "That code did not work. Try again, or go back and sign in again." : describeError(error));
      }
    });
  });

  // ---- step-up: prove the factor again, then the caller retries --------------------------------
  const dialog = $("step-up-dialog");
  let settle = null;

  /** Shows the code dialog; resolves true once stepped up, false when the user cancels. */
  function stepUp(reason) {
    $("step-up-reason").textContent = reason;
    $("step-up-message").textContent = "";
    $("step-up-form").reset();
    if (!dialog.open) dialog.showModal();
    return new Promise((resolve) => {
      settle = resolve;
    });
  }

  function closeStepUp(result) {
    if (dialog.open) dialog.close();
    const done = settle;
    settle = null;
    if (done) done(result);
  }

  $("step-up-cancel").addEventListener("click", () => closeStepUp(false));
  dialog.addEventListener("cancel", () => closeStepUp(false)); // Escape

  $("step-up-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const code = String(new FormData(form).get("code")).trim();
    await busy(form.querySelector("button"), async () => {
      try {
        await auth.stepUp(code);
        closeStepUp(true);
      } catch (error) {
        $("step-up-message").dataset.kind = "error";
        $("step-up-message").textContent = error.status === 401 ? "That code did not work." : describeError(error);
        form.elements.namedItem("code").select();
      }
    });
  });

  /** `work()`, and once more after a step-up when the server demands one. */
  async function withStepUp(reason, work) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof StepUpRequiredError)) throw error;
      if (!(await stepUp(reason))) return null;
      return work();
    }
  }

  // ---- the sensitive action ----------------------------------------------------------------------
  $("sensitive-action").addEventListener("click", (event) =>
    busy(event.currentTarget, async () => {
      const result = $("sensitive-result");
      try {
        const response = await withStepUp("The sensitive resource wants your second factor, proved in the last five minutes.", () =>
          auth.fetch("/api/me/sensitive"),
        );
        if (response === null) {
          result.textContent = "";
          return;
        }
        if (!response.ok) {
          result.dataset.kind = "error";
          result.textContent = `Refused (${response.status}).`;
          return;
        }
        const body = await response.json();
        const when = new Date(body.auth_time * 1000).toLocaleTimeString();
        result.dataset.kind = "success";
        result.textContent = `Access granted: ${body.acr}, second factor proved at ${when}.`;
      } catch (error) {
        result.dataset.kind = "error";
        result.textContent = describeError(error);
      }
    }),
  );

  // ---- the card --------------------------------------------------------------------------------
  function show(state) {
    const on = state.totpEnabled;
    $("mfa-state").textContent = on ? "On" : "Off";
    $("mfa-state").className = on ? "badge on" : "badge ended";
    $("mfa-summary").textContent = on
      ? `On since ${state.enabledAt ? timeFormat.format(new Date(state.enabledAt)) : "—"} · ${state.recoveryCodesLeft} recovery code(s) left.`
      : "Sign-in also asks for a code from an authenticator app (TOTP).";
    $("mfa-actions").hidden = !on;
    $("totp-enroll-form").hidden = on || !$("totp-setup").hidden;
  }

  async function load() {
    try {
      show(await auth.getSecondFactor());
    } catch (error) {
      message(describeError(error));
    }
  }

  function reset() {
    $("totp-setup").hidden = true;
    $("recovery-panel").hidden = true;
    $("recovery-codes").replaceChildren();
    $("totp-secret").textContent = "";
    $("totp-qr").removeAttribute("src");
    $("mfa-actions").hidden = true;
    $("totp-enroll-form").hidden = true;
    message("");
  }

  function showRecoveryCodes(codes) {
    $("recovery-codes").replaceChildren(...codes.map((code) => el("li", { text: code })));
    $("recovery-panel").hidden = false;
  }

  $("recovery-done").addEventListener("click", () => {
    // Shown once: gone from the page, and the server keeps only their digests.
    $("recovery-codes").replaceChildren();
    $("recovery-panel").hidden = true;
  });

  $("totp-enroll-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const password = String(new FormData(form).get("password"));
    await busy(form.querySelector("button"), async () => {
      try {
        const enrollment = await auth.beginTotpEnrollment(password);
        form.reset();
        $("totp-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(enrollment.qrSvg)}`;
        $("totp-secret").textContent = enrollment.secret;
        $("totp-setup").hidden = false;
        form.hidden = true;
        message("");
        $("totp-confirm-form").elements.namedItem("code").focus();
      } catch (error) {
        message(error.status === 401 ? "That password is not right." : describeError(error));
      }
    });
  });

  $("totp-cancel").addEventListener("click", () => {
    $("totp-setup").hidden = true;
    $("totp-secret").textContent = "";
    $("totp-qr").removeAttribute("src");
    $("totp-enroll-form").hidden = false;
  });

  $("totp-confirm-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const code = String(new FormData(form).get("code")).trim();
    await busy(form.querySelector("button"), async () => {
      try {
        const codes = await auth.confirmTotpEnrollment(code);
        form.reset();
        $("totp-setup").hidden = true;
        $("totp-secret").textContent = "";
        $("totp-qr").removeAttribute("src");
        showRecoveryCodes(codes);
        message("Two-step verification is on.", "success");
        await load();
      } catch (error) {
        message(error.status === 401 ? "That code did not work: check the app and try again." : describeError(error));
      }
    });
  });

  const PROTECTED = "Changing two-step verification needs your second factor, proved in the last five minutes.";

  $("recovery-regenerate").addEventListener("click", (event) =>
    busy(event.currentTarget, async () => {
      try {
        const codes = await withStepUp(PROTECTED, () => auth.regenerateRecoveryCodes());
        if (codes === null) return;
        showRecoveryCodes(codes);
        message("New recovery codes: the old ones no longer work. Your other sessions were signed out.", "success");
        await load();
        ui.sessionsChanged();
      } catch (error) {
        message(describeError(error));
      }
    }),
  );

  $("totp-disable").addEventListener("click", (event) =>
    busy(event.currentTarget, async () => {
      try {
        const done = await withStepUp(PROTECTED, async () => {
          await auth.disableTotp();
          return true;
        });
        if (done === null) return;
        reset();
        message("Two-step verification is off. Your other sessions were signed out.", "success");
        await load();
        ui.sessionsChanged();
      } catch (error) {
        message(describeError(error));
      }
    }),
  );

  return { askLoginCode, leaveLoginCode, load, reset, stepUp };
}
