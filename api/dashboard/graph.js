// The console's one way to draw a series: the chart module (chart.js, mountSeriesChart, see README
// "Dashboard") when it is served, else the API's own server-drawn SVG of the same point and parameter.
import { lang, merge, t } from "./i18n.js";
import { api, enc, esc, session } from "./core.js";

let chartModule;  // undefined: not tried yet; null: not available
async function chartJs() {
  if (chartModule === undefined) {
    chartModule = await import("./chart.js").catch(() => null);
    if (chartModule) merge(chartModule.STRINGS);
  }
  return chartModule;
}

/** Load the chart module early, so its words are merged before a page is drawn. */
export async function preload() { await chartJs(); }

/** A page that will show charts starts loading the charting library at once, with its data. */
export function warmCharts() { chartJs().then((mod) => mod?.warmCharts?.()); }

/** opts: park, plant, point, parameter, range {from, to} | "24h", highlight {from, to} | null. */
export async function mountSeries(el, opts) {
  const mod = await chartJs();
  if (mod && mod.mountSeriesChart) {
    return mod.mountSeriesChart(el, { api, lang: lang(), tz: session.tz, t, highlight: null, ...opts });
  }
  const range = typeof opts.range === "object" && opts.range ? opts.range : { to: new Date(), from: new Date(Date.now() - 86400e3) };
  const base = `/api/v1/parks/${enc(opts.park)}/plants/${enc(opts.plant)}/points/${enc(opts.point)}`;
  const q = `parameter=${enc(opts.parameter)}&from=${enc(range.from.toISOString())}&to=${enc(range.to.toISOString())}`;
  const svg = await api(`${base}/chart.svg?${q}`);
  // our own server-side SVG, its text escaped there
  el.innerHTML = `<div class="svg-chart" role="img" aria-label="${esc(t("chart"))}">${svg}</div>`;
  return { destroy() { el.innerHTML = ""; } };
}
