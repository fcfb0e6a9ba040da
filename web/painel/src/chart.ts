// The monthly series chart: consumption as bars, the year-over-year variation as a line on its
// own axis. uPlot draws on a canvas; this module only maps the API's points onto it.
import uPlot from "uplot";
import type { MonthlySeries } from "./api";
import { formatNumber, formatPercent, formatPeriod } from "./format";

let chart: uPlot | null = null;
let resizeObserver: ResizeObserver | null = null;

const BAR_COLOUR = "#1f6fb2";
const LINE_COLOUR = "#c2410c";

export function drawSeries(container: HTMLElement, series: MonthlySeries): void {
  chart?.destroy();
  resizeObserver?.disconnect();
  container.replaceChildren();
  const labels = series.pontos.map((point) => point.periodo);
  // What is drawn, for tests and tools (the canvas itself cannot be read as text).
  container.dataset.periods = labels.join(" ");
  const xs = labels.map((_, index) => index);
  const totals = series.pontos.map((point) => point.total_kwh);
  const yearly = series.pontos.map((point) => point.variacao_anual_pct ?? null);
  const width = Math.max(320, container.clientWidth);
  const bars = uPlot.paths.bars?.({ size: [0.7, 64] });
  const options: uPlot.Options = {
    width,
    height: 320,
    padding: [12, 8, 0, 8],
    cursor: { points: { show: false } },
    legend: { live: true },
    scales: {
      x: { time: false, range: () => [-0.5, Math.max(0, xs.length - 0.5)] },
      kwh: { range: (_u, _min, max) => [0, max * 1.08 || 1] } },
    axes: [
      {
        values: (_u, ticks) => ticks.map((tick) => (labels[tick] ? formatPeriod(labels[tick]) : "")),
        space: 56,
        grid: { show: false },
      },
      {
        scale: "kwh",
        label: "kWh",
        size: 72,
        values: (_u, ticks) => ticks.map((tick) => formatNumber(tick)),
      },
      {
        scale: "pct",
        side: 1,
        label: "Variação anual (%)",
        size: 64,
        grid: { show: false },
        values: (_u, ticks) => ticks.map((tick) => formatPercent(tick)),
      },
    ],
    series: [
      { label: "Período", value: (_u, index) => (index === null ? "" : formatPeriod(labels[index] ?? "")) },
      {
        label: "Consumo",
        scale: "kwh",
        fill: `${BAR_COLOUR}cc`,
        stroke: BAR_COLOUR,
        paths: bars,
        points: { show: false },
        value: (_u, value) => (value === null ? "—" : `${formatNumber(value)} kWh`),
      },
      {
        label: "Variação anual",
        scale: "pct",
        stroke: LINE_COLOUR,
        width: 2,
        spanGaps: false,
        points: { show: true, size: 5 },
        value: (_u, value) => formatPercent(value),
      },
    ],
  };
  chart = new uPlot(options, [xs, totals, yearly] as uPlot.AlignedData, container);
  resizeObserver = new ResizeObserver(() => {
    if (chart && container.clientWidth > 0) chart.setSize({ width: container.clientWidth, height: 320 });
  });
  resizeObserver.observe(container);
}
