// The app's wiring: one auth client, one Axios instance that carries its token, one provider.
import axios from "axios";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createAuthClient } from "@identity/browser";
import { attachAxios } from "@identity/browser/axios";
import { AuthProvider } from "@identity/browser/react";
import { App } from "./App.js";

const auth = createAuthClient(); // the edge serves this origin: basePath ""
const api = axios.create({ timeout: 10_000 });
attachAxios(api, auth); // only requests to this origin get the Bearer header

// For the browser console (and tests/browser/test_react_app.py): the same two objects the app uses.
Object.assign(globalThis, { example: { auth, api } });

const root = document.getElementById("root");
if (root === null) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <AuthProvider client={auth}>
      <App api={api} />
    </AuthProvider>
  </StrictMode>,
);
