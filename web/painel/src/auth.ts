// Tokens: the access token in memory only, the refresh token in sessionStorage (this tab, gone
// when it closes; never localStorage). Renewed a minute before the access token expires.
import type { components } from "./api-types";

type TokenPair = components["schemas"]["TokenPair"];

const REFRESH_KEY = "energy-painel.refresh";
const RENEW_MARGIN_SECONDS = 60;

let access: string | null = null;
let timer: number | undefined;
let listeners: Array<(loggedIn: boolean) => void> = [];

export function accessToken(): string | null {
  return access;
}

export function onChange(listener: (loggedIn: boolean) => void): void {
  listeners.push(listener);
}

function notify(): void {
  for (const listener of listeners) listener(access !== null);
}

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
    credentials: "omit",
  });
}

function keep(pair: TokenPair): void {
  access = pair.access;
  sessionStorage.setItem(REFRESH_KEY, pair.refresh);
  window.clearTimeout(timer);
  const seconds = Math.max(5, pair.expires_in - RENEW_MARGIN_SECONDS);
  timer = window.setTimeout(() => void renew(), seconds * 1000);
  notify();
}

export function forget(): void {
  access = null;
  sessionStorage.removeItem(REFRESH_KEY);
  window.clearTimeout(timer);
  notify();
}

export class LoginError extends Error {}

export async function login(username: string, password: string): Promise<void> {
  const response = await post("/api/token/", { username, password });
  if (response.ok) {
    keep((await response.json()) as TokenPair);
    return;
  }
  const problem = (await response.json().catch(() => ({}))) as { detail?: string };
  if (response.status === 401) throw new LoginError("Usuário ou senha incorretos.");
  if (response.status === 429) {
    throw new LoginError("Muitas tentativas. Aguarde alguns minutos e tente de novo.");
  }
  throw new LoginError(problem.detail ?? `Não foi possível entrar (HTTP ${response.status}).`);
}

/** Exchange the refresh token for a new pair; false (and logged out) when that fails. */
export async function renew(): Promise<boolean> {
  const refresh = sessionStorage.getItem(REFRESH_KEY);
  if (!refresh) return false;
  const response = await post("/api/token/refresh/", { refresh });
  if (!response.ok) {
    forget();
    return false;
  }
  keep((await response.json()) as TokenPair);
  return true;
}

export async function logout(): Promise<void> {
  const refresh = sessionStorage.getItem(REFRESH_KEY);
  forget();
  if (refresh) await post("/api/token/revoke/", { refresh }).catch(() => undefined);
}
