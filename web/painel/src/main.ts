// The dashboard: log in, choose a range (and a client), read the API, draw the page.
import { api, ApiError, type Anomalies, type Ranking, type Summary } from "./api";
import { LoginError, forget, login, logout, onChange, renew } from "./auth";
import { drawSeries } from "./chart";
import {
  formatInteger,
  formatKwh,
  formatLongMonth,
  formatPercent,
  formatPeriod,
  shiftMonth,
} from "./format";

type Grouping = "mes" | "trimestre" | "ano";

function $(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing`);
  return element;
}

function input(id: string): HTMLInputElement {
  return $(id) as HTMLInputElement;
}

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function setCard(id: string, text: string, value: number | null | undefined): void {
  const element = $(id);
  element.textContent = text;
  element.dataset.value = value === null || value === undefined ? "" : String(value);
}

function status(message: string, isError = false): void {
  const element = $("status");
  element.textContent = message;
  element.classList.toggle("error", isError);
}

/** Widen [de, ate] to whole quarters or years (the series asks for whole periods). */
function alignRange(de: string, ate: string, grouping: Grouping): [string, string] {
  const size = grouping === "ano" ? 12 : grouping === "trimestre" ? 3 : 1;
  if (size === 1) return [de, ate];
  const startMonth = Number(de.slice(5, 7));
  const endMonth = Number(ate.slice(5, 7));
  const start = shiftMonth(de, -((startMonth - 1) % size));
  const end = shiftMonth(ate, (size - (endMonth % size)) % size);
  return [start, end];
}

let selectedClient: number | undefined;
let clientNames = new Map<string, number>();

function range(): { de?: string; ate?: string } {
  const de = input("de").value || undefined;
  const ate = input("ate").value || undefined;
  return { de, ate };
}

function renderSummary(summary: Summary): void {
  setCard("card-clientes", formatInteger(summary.clientes), summary.clientes);
  setCard("card-total", formatKwh(summary.total_kwh), summary.total_kwh);
  setCard("card-media", formatKwh(summary.media_kwh), summary.media_kwh);
  setCard("card-dia", formatKwh(summary.kwh_por_dia), summary.kwh_por_dia);
  const covered =
    summary.de && summary.ate
      ? `${formatLongMonth(summary.de)} a ${formatLongMonth(summary.ate)} · ${summary.meses} meses`
      : "sem dados no período";
  $("range-caption").textContent = covered;
}

function renderRanking(ranking: Ranking): void {
  const rows = ranking.itens.map((item) => {
    const tr = document.createElement("tr");
    tr.append(
      cell(String(item.posicao), "num"),
      cell(item.nome),
      cell(formatKwh(item.total_kwh), "num"),
      cell(formatKwh(item.media_kwh), "num"),
      cell(String(item.meses), "num"),
    );
    return tr;
  });
  $("ranking-body").replaceChildren(...rows);
  $("ranking-empty").hidden = rows.length > 0;
}

const SEVERITY = { critica: "Crítica", alerta: "Alerta" } as const;
const DIRECTION = { alta: "acima", baixa: "abaixo" } as const;
const METHOD = { mad: "desvio da mediana", ano_anterior: "ano anterior" } as const;

function renderAnomalies(anomalies: Anomalies): void {
  const rows = anomalies.itens.map((item) => {
    const tr = document.createElement("tr");
    tr.className = `severity-${item.severidade}`;
    const badge = document.createElement("span");
    badge.className = `badge badge-${item.severidade}`;
    badge.textContent = SEVERITY[item.severidade];
    const severity = document.createElement("td");
    severity.append(badge);
    tr.append(
      cell(formatPeriod(item.mes)),
      cell(item.nome),
      cell(formatKwh(item.consumo_kwh), "num"),
      cell(formatKwh(item.referencia_kwh), "num"),
      cell(`${formatPercent(item.desvio_pct)} (${DIRECTION[item.direcao]})`, "num"),
      cell(METHOD[item.metodo]),
      severity,
    );
    return tr;
  });
  $("anomalies-body").replaceChildren(...rows);
  $("anomalies-empty").hidden = rows.length > 0;
  $("anomalies-count").textContent =
    anomalies.total > rows.length
      ? `${formatInteger(rows.length)} mais recentes de ${formatInteger(anomalies.total)}`
      : `${formatInteger(anomalies.total)} no período`;
}

async function renderClient(clientId: number): Promise<void> {
  const { de, ate } = range();
  const [growth, trend] = await Promise.all([
    api.growth({ cliente_id: clientId, de, ate }).catch((error: unknown) => {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }),
    api.trend({ cliente_id: clientId, meses: 12 }).catch((error: unknown) => {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }),
  ]);
  $("client-panel").hidden = false;
  if (growth) {
    $("growth-month").textContent = formatLongMonth(growth.mes);
    setCard("growth-kwh", formatKwh(growth.consumo_kwh), growth.consumo_kwh);
    setCard("growth-monthly", formatPercent(growth.variacao_mensal_pct), growth.variacao_mensal_pct);
    setCard("growth-yearly", formatPercent(growth.variacao_anual_pct), growth.variacao_anual_pct);
  } else {
    $("growth-month").textContent = "sem dados";
  }
  if (trend) {
    setCard(
      "trend-slope",
      trend.inclinacao_kwh_mes === null ? "—" : `${formatKwh(trend.inclinacao_kwh_mes)}/mês`,
      trend.inclinacao_kwh_mes,
    );
    setCard("trend-year", formatPercent(trend.variacao_pct_ano), trend.variacao_pct_ano);
    $("trend-points").textContent = `${trend.pontos} de ${trend.meses} meses com dados`;
  }
}

async function refresh(): Promise<void> {
  const { de, ate } = range();
  if (de && ate && de > ate) {
    status("O mês inicial deve ser anterior ao final.", true);
    return;
  }
  const grouping = (($("agrupar") as HTMLSelectElement).value || "mes") as Grouping;
  const [seriesFrom, seriesTo] = de && ate ? alignRange(de, ate, grouping) : [de, ate];
  status("Carregando…");
  try {
    const [summary, series, ranking, anomalies] = await Promise.all([
      api.summary({ de, ate, cliente_id: selectedClient }),
      api.series({ de: seriesFrom, ate: seriesTo, agrupar: grouping, cliente_id: selectedClient }),
      api.ranking({ de, ate, limite: 10 }),
      api.anomalies({ de, ate, limite: 50, ...(selectedClient ? { cliente_id: selectedClient } : {}) }),
    ]);
    renderSummary(summary);
    $("chart-caption").textContent = selectedClient
      ? `Cliente ${$("cliente").dataset.name ?? selectedClient}`
      : "Toda a carteira";
    drawSeries($("chart"), series);
    renderRanking(ranking);
    renderAnomalies(anomalies);
    if (selectedClient) await renderClient(selectedClient);
    else $("client-panel").hidden = true;
    status(`Atualizado às ${new Date().toLocaleTimeString("pt-BR")}`);
  } catch (error) {
    status(error instanceof Error ? error.message : String(error), true);
  }
}

async function searchClients(term: string): Promise<void> {
  const page = await api.clients({ busca: term || undefined, limit: 20 });
  clientNames = new Map(page.items.map((item) => [`${item.nome} (#${item.id})`, item.id]));
  const options = page.items.map((item) => {
    const option = document.createElement("option");
    option.value = `${item.nome} (#${item.id})`;
    return option;
  });
  $("clientes-lista").replaceChildren(...options);
}

async function chooseDefaults(): Promise<void> {
  const all = await api.summary({});
  if (all.ate) {
    const start = shiftMonth(all.ate, -11);
    input("ate").value = all.ate;
    input("de").value = all.de && all.de > start ? all.de : start;
  }
}

async function showDashboard(): Promise<void> {
  $("login-view").hidden = true;
  $("dashboard").hidden = false;
  const me = await api.me();
  $("user-name").textContent = `${me.username} · ${me.role}`;
  if (!input("de").value) await chooseDefaults();
  await searchClients("");
  await refresh();
}

function showLogin(): void {
  $("dashboard").hidden = true;
  $("login-view").hidden = false;
  input("username").focus();
}

function wire(): void {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const error = $("login-error");
    error.hidden = true;
    const button = $("login-submit") as HTMLButtonElement;
    button.disabled = true;
    login(input("username").value.trim(), input("password").value)
      .then(() => {
        input("password").value = "";
      })
      .catch((reason: unknown) => {
        error.textContent = reason instanceof LoginError ? reason.message : String(reason);
        error.hidden = false;
      })
      .finally(() => {
        button.disabled = false;
      });
  });
  $("logout").addEventListener("click", () => void logout());
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    void refresh();
  });
  $("agrupar").addEventListener("change", () => void refresh());
  const client = input("cliente");
  let debounce: number | undefined;
  client.addEventListener("input", () => {
    window.clearTimeout(debounce);
    const chosen = clientNames.get(client.value);
    if (chosen !== undefined) {
      selectedClient = chosen;
      client.dataset.name = client.value;
      void refresh();
      return;
    }
    if (client.value === "" && selectedClient !== undefined) {
      selectedClient = undefined;
      void refresh();
    }
    debounce = window.setTimeout(() => void searchClients(client.value), 250);
  });
  $("clear-client").addEventListener("click", () => {
    client.value = "";
    selectedClient = undefined;
    void refresh();
  });
  onChange((loggedIn) => {
    if (!loggedIn) {
      showLogin();
      return;
    }
    if ($("dashboard").hidden) void showDashboard().catch(() => forget());
  });
}

wire();
void renew().then((ok) => {
  if (!ok) showLogin();
});
