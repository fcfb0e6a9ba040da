// Numbers and months as people in Brazil read them (Intl, pt-BR).
const LOCALE = "pt-BR";

const kwh = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 0, maximumFractionDigits: 2 });
const integer = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 });
const percent = new Intl.NumberFormat(LOCALE, {
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
  signDisplay: "exceptZero",
});
const monthYear = new Intl.DateTimeFormat(LOCALE, { month: "short", year: "numeric", timeZone: "UTC" });
const longMonthYear = new Intl.DateTimeFormat(LOCALE, { month: "long", year: "numeric", timeZone: "UTC" });

export function formatKwh(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : `${kwh.format(value)} kWh`;
}

export function formatNumber(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : kwh.format(value);
}

export function formatInteger(value: number): string {
  return integer.format(value);
}

export function formatPercent(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : `${percent.format(value)} %`;
}

/** "2026-02" or "2026-02-01" → a Date at midnight UTC of the 1st. */
export function monthDate(label: string): Date {
  const [year, month] = label.split("-").map(Number);
  return new Date(Date.UTC(year ?? 1970, (month ?? 1) - 1, 1));
}

/** "2026-02" → "fev. de 2026"; quarters ("2026-T1") and years pass through readably. */
export function formatPeriod(label: string): string {
  if (/^\d{4}-T[1-4]$/.test(label)) return `${label.slice(6)}º tri ${label.slice(0, 4)}`;
  if (/^\d{4}$/.test(label)) return label;
  return monthYear.format(monthDate(label));
}

export function formatLongMonth(label: string): string {
  return longMonthYear.format(monthDate(label));
}

/** YYYY-MM of `label` shifted by `months`. */
export function shiftMonth(label: string, months: number): string {
  const date = monthDate(label);
  date.setUTCMonth(date.getUTCMonth() + months);
  return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, "0")}`;
}
