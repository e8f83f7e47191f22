/**
 * attachAxios: the access token for an Axios instance, on the client's single-flight refresh.
 *
 * One request interceptor, registered and ejected through the instance's own InterceptorManager
 * (nothing of the app's is replaced). For a request to one of the client's API origins it adds
 * the Bearer header and wraps that request's adapter: a 401 joins the client's refresh (the same
 * Web Lock and session epoch as `fetch`) and the request is sent once more with the new token;
 * a second 401 goes to the caller. A 401 with an RFC 9470 step-up challenge is never replayed
 * (a refresh cannot raise how the user authenticated): it rejects with StepUpRequiredError. The
 * replay happens beneath the interceptors, so each of the app's interceptors, registered before
 * or after ours, runs once per call and never sees the 401 that was recovered. Requests to other origins, requests that already carry an
 * Authorization header of the app's, and requests made while signed out are left alone.
 */

import axios, {
  type AxiosAdapter,
  type AxiosInstance,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from "axios";
import { parseStepUpChallenge, type Problem, StepUpRequiredError } from "./errors.js";
import type { TokenSource } from "./types.js";

interface Answer {
  readonly status?: unknown;
  readonly headers?: unknown;
  readonly data?: unknown;
}

function answerOf(error: unknown): Answer | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  return (error as { response?: Answer }).response;
}

function isUnauthorized(error: unknown): boolean {
  return answerOf(error)?.status === 401;
}

function header(headers: unknown, name: string): string | null {
  if (typeof headers !== "object" || headers === null) return null;
  const value = (headers as Record<string, unknown>)[name];
  return typeof value === "string" ? value : null;
}

/** A 401 with an RFC 9470 step-up challenge, as the client's error (null when not one). */
function stepUpDemand(answer: Answer | undefined): StepUpRequiredError | null {
  if (answer?.status !== 401) return null;
  const challenge = parseStepUpChallenge(header(answer.headers, "www-authenticate"));
  if (challenge === null) return null;
  // Beneath the interceptors the body is still as received: text, until Axios transforms it.
  let data = answer.data;
  if (typeof data === "string") {
    try {
      data = JSON.parse(data);
    } catch {
      data = null;
    }
  }
  const problem = typeof data === "object" && data !== null && !Array.isArray(data) ? (data as Problem) : null;
  return new StepUpRequiredError(401, problem, challenge);
}

/** `send`, with a step-up demand rejected as StepUpRequiredError: a refresh cannot answer it. */
async function unlessStepUp(send: () => Promise<AxiosResponse>): Promise<AxiosResponse> {
  let response: AxiosResponse;
  try {
    response = await send();
  } catch (error) {
    throw stepUpDemand(answerOf(error)) ?? error;
  }
  const demand = stepUpDemand(response);
  if (demand !== null) throw demand;
  return response;
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
      const response = await unlessStepUp(() => send(config));
      if (response.status !== 401) return response; // a 401 resolves if validateStatus says so
      first = () => Promise.resolve(response);
    } catch (error) {
      if (error instanceof StepUpRequiredError || !isUnauthorized(error)) throw error;
      first = () => Promise.reject(error);
    }
    const renewed = await tokens.renewAccessToken(token);
    if (renewed === null) return first();
    config.headers.set("Authorization", `Bearer ${renewed}`);
    return unlessStepUp(() => send(config));
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
