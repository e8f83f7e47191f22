/**
 * attachAxios: the access token for an Axios instance, on the client's single-flight refresh.
 *
 * One request interceptor, registered and ejected through the instance's own InterceptorManager
 * (nothing of the app's is replaced). For a request to one of the client's API origins it adds
 * the Bearer header and wraps that request's adapter: a 401 joins the client's refresh (the same
 * Web Lock and session epoch as `fetch`) and the request is sent once more with the new token;
 * a second 401 goes to the caller. The replay happens beneath the interceptors, so each of the
 * app's interceptors, registered before or after ours, runs once per call and never sees the
 * 401 that was recovered. Requests to other origins, requests that already carry an
 * Authorization header of the app's, and requests made while signed out are left alone.
 */

import axios, {
  type AxiosAdapter,
  type AxiosInstance,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from "axios";
import type { TokenSource } from "./types.js";

function isUnauthorized(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const response = (error as { response?: { status?: unknown } }).response;
  return response?.status === 401;
}

/** `adapter` (as configured: names or functions), sent again once after a 401. */
function replayingOnce(
  adapter: InternalAxiosRequestConfig["adapter"],
  tokens: TokenSource,
  token: string,
): AxiosAdapter {
  return async (config) => {
    const send = axios.getAdapter(adapter, config);
    let first: () => Promise<AxiosResponse>;
    try {
      const response = await send(config);
      if (response.status !== 401) return response; // a 401 resolves if validateStatus says so
      first = () => Promise.resolve(response);
    } catch (error) {
      if (!isUnauthorized(error)) throw error;
      first = () => Promise.reject(error);
    }
    const renewed = await tokens.renewAccessToken(token);
    if (renewed === null) return first();
    config.headers.set("Authorization", `Bearer ${renewed}`);
    return send(config);
  };
}

/** Add the client's access token to `instance`'s requests; returns the function that detaches it. */
export function attachAxios(instance: AxiosInstance, client: TokenSource): () => void {
  const id = instance.interceptors.request.use(async (config) => {
    if (config.headers.has("Authorization")) return config; // the app's own credential
    if (!client.sendsTokenTo(instance.getUri(config))) return config;
    const token = await client.getAccessToken();
    if (token === null) return config;
    config.headers.set("Authorization", `Bearer ${token}`);
    config.adapter = replayingOnce(config.adapter ?? instance.defaults.adapter, client, token);
    return config;
  });
  return () => {
    instance.interceptors.request.eject(id);
  };
}
