// A small client of the public API, typed from the service's own OpenAPI document
// (src/api-types.ts is generated from openapi.json by `make painel`).
import { accessToken, renew } from "./auth";
import type { components, operations } from "./api-types";

export type Schemas = components["schemas"];
export type Summary = Schemas["Summary"];
export type MonthlySeries = Schemas["MonthlySeries"];
export type Ranking = Schemas["Ranking"];
export type Anomalies = Schemas["Anomalies"];
export type Growth = Schemas["Growth"];
export type Trend = Schemas["Trend"];
export type ClientPage = Schemas["ClientPage"];
export type Me = Schemas["UserRead"];

type Query<Op extends keyof operations> = operations[Op] extends { parameters: { query?: infer Q } }
  ? NonNullable<Q>
  : never;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function get<T>(
  path: string,
  query: Record<string, string | number | null | undefined> = {},
): Promise<T> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const url = params.size ? `${path}?${params}` : path;
  for (let attempt = 0; attempt < 2; attempt++) {
    const token = accessToken();
    const response = await fetch(url, {
      headers: { Accept: "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      credentials: "omit",
    });
    if (response.status === 401 && attempt === 0 && (await renew())) continue;
    if (!response.ok) {
      const problem = (await response.json().catch(() => ({}))) as { detail?: string };
      throw new ApiError(response.status, problem.detail ?? `HTTP ${response.status}`);
    }
    return (await response.json()) as T;
  }
  throw new ApiError(401, "Sessão encerrada");
}

export const api = {
  me: () => get<Me>("/api/v1/usuarios/me/"),
  summary: (query: Query<"analytics-resumo">) => get<Summary>("/api/v1/analytics/resumo/", query),
  series: (query: Query<"analytics-serie-mensal">) =>
    get<MonthlySeries>("/api/v1/analytics/serie-mensal/", query),
  ranking: (query: Query<"analytics-ranking">) => get<Ranking>("/api/v1/analytics/ranking/", query),
  anomalies: (query: Query<"analytics-anomalias">) =>
    get<Anomalies>("/api/v1/analytics/anomalias/", query),
  growth: (query: Query<"analytics-crescimento">) =>
    get<Growth>("/api/v1/analytics/crescimento/", query),
  trend: (query: Query<"analytics-tendencia">) => get<Trend>("/api/v1/analytics/tendencia/", query),
  clients: (query: Query<"clientes-list">) => get<ClientPage>("/api/v1/clientes/", query),
};
