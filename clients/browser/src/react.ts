/**
 * React bindings: `<AuthProvider client={…}>` and `useAuth()`, read through
 * `useSyncExternalStore` from the client itself (its `onChange` and `getState`), so every
 * component sees the same snapshot, which changes only when the status or the token does and
 * follows the other tabs through the client's BroadcastChannel. React 18 and 19. No state here
 * beyond the client instance the provider is given.
 */

import {
  createContext,
  createElement,
  useContext,
  useMemo,
  useSyncExternalStore,
  type ReactElement,
  type ReactNode,
} from "react";
import type { AuthState } from "./state.js";
import type { AuthClient } from "./types.js";

const AuthContext = createContext<AuthClient | null>(null);

export interface AuthProviderProps {
  readonly client: AuthClient;
  readonly children?: ReactNode;
}

export function AuthProvider({ client, children }: AuthProviderProps): ReactElement {
  return createElement(AuthContext.Provider, { value: client }, children);
}

/** The state and the client's methods; one object per state (stable between changes). */
export interface Auth extends AuthState {
  readonly client: AuthClient;
  readonly login: AuthClient["login"];
  readonly completeLogin: AuthClient["completeLogin"];
  readonly stepUp: AuthClient["stepUp"];
  readonly getSecondFactor: AuthClient["getSecondFactor"];
  readonly beginTotpEnrollment: AuthClient["beginTotpEnrollment"];
  readonly confirmTotpEnrollment: AuthClient["confirmTotpEnrollment"];
  readonly disableTotp: AuthClient["disableTotp"];
  readonly regenerateRecoveryCodes: AuthClient["regenerateRecoveryCodes"];
  readonly register: AuthClient["register"];
  readonly logout: AuthClient["logout"];
  readonly logoutAll: AuthClient["logoutAll"];
  readonly fetch: AuthClient["fetch"];
  readonly getAccessToken: AuthClient["getAccessToken"];
}

export function useAuth(): Auth {
  const client = useContext(AuthContext);
  if (client === null) throw new Error("useAuth() must be called inside <AuthProvider client={…}>");
  const state = useSyncExternalStore(client.onChange, client.getState, client.getState);
  return useMemo(
    () =>
      Object.freeze({
        ...state,
        client,
        login: client.login,
        completeLogin: client.completeLogin,
        stepUp: client.stepUp,
        getSecondFactor: client.getSecondFactor,
        beginTotpEnrollment: client.beginTotpEnrollment,
        confirmTotpEnrollment: client.confirmTotpEnrollment,
        disableTotp: client.disableTotp,
        regenerateRecoveryCodes: client.regenerateRecoveryCodes,
        register: client.register,
        logout: client.logout,
        logoutAll: client.logoutAll,
        fetch: client.fetch,
        getAccessToken: client.getAccessToken,
      }),
    [client, state],
  );
}
