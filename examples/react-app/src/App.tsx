// Signed out: a sign-in form. Signed in: who am I (GET /api/me) and my sessions
// (GET /auth/sessions), both through Axios, and sign out.
import type { AxiosInstance } from "axios";
import { useEffect, useState, type FormEvent } from "react";
import { AuthError } from "@identity/browser";
import { useAuth } from "@identity/browser/react";

interface Me {
  readonly sub: string;
  readonly sid?: string;
  readonly exp: number;
}

interface Session {
  readonly session_id: string;
  readonly user_agent: string;
  readonly current: boolean;
  readonly active: boolean;
}

export function App({ api }: { readonly api: AxiosInstance }) {
  const { status } = useAuth();
  return (
    <>
      <h1>React + Axios example</h1>
      <p id="status" data-status={status}>
        {status === "loading" ? "Checking session…" : status === "signedIn" ? "Signed in" : "Signed out"}
      </p>
      {status === "signedOut" && <SignIn />}
      {status === "signedIn" && <Account api={api} />}
    </>
  );
}

function SignIn() {
  const { login } = useAuth();
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    try {
      await login(String(data.get("email")), String(data.get("password")));
    } catch (caught) {
      setError(caught instanceof AuthError ? caught.message : "Something went wrong.");
    }
  }

  return (
    <form id="sign-in" onSubmit={submit}>
      <input name="email" type="email" autoComplete="username" placeholder="Email" required />
      <input name="password" type="password" autoComplete="current-password" placeholder="Password" required />
      <button type="submit">Sign in</button>
      {error && <p className="error">{error}</p>}
    </form>
  );
}

function Account({ api }: { readonly api: AxiosInstance }) {
  const { claims, logout } = useAuth();
  const [me, setMe] = useState<Me | null>(null);
  const [sessions, setSessions] = useState<readonly Session[]>([]);

  useEffect(() => {
    let live = true;
    void Promise.all([api.get<Me>("/api/me"), api.get<{ sessions: Session[] }>("/auth/sessions")]).then(
      ([who, list]) => {
        if (!live) return;
        setMe(who.data);
        setSessions(list.data.sessions.filter((s) => s.active));
      },
    );
    return () => {
      live = false;
    };
  }, [api]);

  return (
    <section>
      <p>
        User <code id="me">{me?.sub ?? claims?.sub}</code>
      </p>
      <h2>Sessions</h2>
      <ul id="sessions">
        {sessions.map((s) => (
          <li key={s.session_id} data-current={s.current}>
            {s.user_agent || "unknown browser"}
            {s.current ? " (this one)" : ""}
          </li>
        ))}
      </ul>
      <button id="sign-out" type="button" onClick={() => void logout()}>
        Sign out
      </button>
    </section>
  );
}
