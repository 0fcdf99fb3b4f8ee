// One parameter of one point over time, drawn with Apache ECharts (served from our own origin under
// /vendor/echarts/, installed from npm at the dependency step; why ECharts: README "Dashboard").
// Raw values (or, for long ranges, the hourly/daily valid means compliance stored: the readings
// endpoint decides), the limit as a line (a two-sided limit such as pH as its band), alert periods,
// data marks and an optional highlighted window shaded, hourly and daily means as overlays, a legend,
// a tooltip with the exact value, its flag and the park-local time, and a range picker (1 h … 1 year,
// or custom). Times are shown on the park's clock. No inline styles or scripts (the CSP forbids them).
// ECharts is imported when a page that shows charts opens (warmCharts), while its data is being
// fetched (its code takes as long to compile as the API takes to answer); other pages never load it.
let library = null;
function echartsLib() { return (library ||= import("/vendor/echarts/echarts.esm.min.js")); }
export function warmCharts() { echartsLib().catch(() => null); }

export const STRINGS = {
  zh: {
    chart_value: "实测值", chart_invalid: "无效数据", chart_hourly: "小时均值", chart_daily: "日均值",
    chart_limit: "限值", chart_band: "限值范围", chart_alerts: "告警时段", chart_marks: "数据标记",
    chart_highlight: "证据时段", chart_range: "时间范围", chart_custom: "自定义", chart_apply: "应用",
    chart_from: "从", chart_to: "到", chart_no_data: "此时段没有数据", chart_error: "图表加载失败",
    chart_bad_range: "开始时间须早于结束时间，且跨度不超过一年", chart_truncated: "数据过多，仅显示前一部分",
    chart_flag: "标记", chart_valid_of: "有效/总数", chart_means_shown: "长时段显示已存储的有效均值",
    chart_range_1h: "1小时", chart_range_6h: "6小时", chart_range_24h: "24小时", chart_range_7d: "7天",
    chart_range_30d: "30天", chart_range_90d: "90天", chart_range_1y: "1年",
    chart_flag_N: "正常", chart_flag_S: "手工输入", chart_flag_F: "停运", chart_flag_M: "维护",
    chart_flag_D: "故障", chart_flag_C: "校准", chart_flag_T: "超测上限", chart_flag_B: "通讯异常",
  },
  en: {
    chart_value: "Measured", chart_invalid: "Invalid data", chart_hourly: "Hourly mean", chart_daily: "Daily mean",
    chart_limit: "Limit", chart_band: "Limit range", chart_alerts: "Alert periods", chart_marks: "Data marks",
    chart_highlight: "Evidence window", chart_range: "Range", chart_custom: "Custom", chart_apply: "Apply",
    chart_from: "From", chart_to: "To", chart_no_data: "No data in this range", chart_error: "The chart could not load",
    chart_bad_range: "The start must be before the end, at most a year apart",
    chart_truncated: "Too many values: the first part is shown", chart_flag: "Flag", chart_valid_of: "valid/total",
    chart_means_shown: "Long ranges show the stored valid means",
    chart_range_1h: "1 h", chart_range_6h: "6 h", chart_range_24h: "24 h", chart_range_7d: "7 d",
    chart_range_30d: "30 d", chart_range_90d: "90 d", chart_range_1y: "1 year",
    chart_flag_N: "normal", chart_flag_S: "manual entry", chart_flag_F: "stopped", chart_flag_M: "maintenance",
    chart_flag_D: "fault", chart_flag_C: "calibration", chart_flag_T: "over range", chart_flag_B: "link fault",
  },
};

const HOUR = 3600e3, DAY = 24 * HOUR;
export const RANGES = { "1h": HOUR, "6h": 6 * HOUR, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY, "1y": 365 * DAY };
const MAX_SPAN = 400 * DAY;  // what the readings endpoint accepts
const VALID = new Set(["N", "S"]);
const COLOURS = { value: "#2563eb", invalid: "#9ca3af", hourly: "#059669", daily: "#7c3aed", limit: "#dc2626",
  band: "rgba(16,185,129,0.10)", alerts: "rgba(220,38,38,0.14)", marks: "rgba(107,114,128,0.18)", highlight: "rgba(245,158,11,0.22)" };

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// --- time on the park's clock -------------------------------------------------------------------------
function formatter(lang, tz, opts) {
  return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", { timeZone: tz, hour12: false, ...opts });
}

/** The park-local wall time of an <input type="datetime-local"> ("2026-11-29T08:00") as a Date. */
export function zonedToDate(local, tz) {
  const guess = Date.parse(local + ":00Z".slice(local.length > 16 ? 3 : 0));
  if (Number.isNaN(guess)) return null;
  const offset = (t) => {
    const parts = Object.fromEntries(formatter("en", tz, { year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit" }).formatToParts(new Date(t)).map((p) => [p.type, p.value]));
    const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour % 24, +parts.minute, +parts.second);
    return asUtc - t;
  };
  const first = guess - offset(guess);
  return new Date(guess - offset(first));
}

function dateToZoned(d, tz) {  // the value of a datetime-local input
  return formatter("en-CA", tz, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" })
    .format(d).replace(", ", "T");
}

function resolveRange(range) {
  if (range && range.from instanceof Date && range.to instanceof Date) return { key: null, from: range.from, to: range.to };
  const key = typeof range === "string" && RANGES[range] ? range : "24h";
  // ends at the next whole minute: charts of one page drawn within a minute ask for the same range
  const to = new Date(Math.ceil(Date.now() / 60e3) * 60e3);
  return { key, from: new Date(to - RANGES[key]), to };
}

// --- what the API gives, as series data -----------------------------------------------------------------
function q(params) {
  return Object.entries(params).filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(v instanceof Date ? v.toISOString() : v)}`).join("&");
}

async function fetchAll(opts, base, range) {
  const span = range.to - range.from;
  const common = { parameter: opts.parameter, from: range.from, to: range.to };
  const quiet = (p) => p.catch(() => null);  // shading is a help: a refused read leaves it out
  const [info, main, hourly, daily, alerts, marks] = await Promise.all([
    opts.info ? Promise.resolve(opts.info) : opts.api(base),
    opts.api(`${base}/readings?${q(common)}`),
    span >= 6 * HOUR && span <= 92 * DAY ? quiet(opts.api(`${base}/readings?${q({ ...common, bucket: "1h" })}`)) : null,
    span >= 2 * DAY ? quiet(opts.api(`${base}/readings?${q({ ...common, bucket: "1d" })}`)) : null,
    quiet(opts.api(`/api/v1/alerts?${q({ park: opts.park, plant: opts.plant, point: opts.point,
      from: range.from, to: range.to, limit: 500 })}`)),
    quiet(opts.api(`/api/v1/marks?${q({ park: opts.park, plant: opts.plant, from: range.from, to: range.to, limit: 200 })}`)),
  ]);
  opts.info = info;
  // the parameter's alerts and the whole point's (offline, instrument status): both explain the series
  const mine = (a) => !a.parameter || a.parameter === opts.parameter;
  return { info, main, hourly, daily, alerts: (alerts || []).filter(mine), marks: (marks || []).filter((m) => !m.point || m.point === opts.point) };
}

function meansData(page) {
  return page ? page.items.map((m) => [Date.parse(m.time), m.mean, m.valid, m.total]) : [];
}

// Each limit period cut to the range: a step line (upper, and lower for a two-sided limit), with a gap
// between periods; a two-sided limit also as its band.
function limitSeries(page, range, tr) {
  const from = +range.from, to = +range.to;
  const upper = [], lower = [], band = [];
  for (const lim of page.limits || []) {
    const a = Math.max(from, lim.valid_from ? Date.parse(lim.valid_from) : from);
    const b = Math.min(to, lim.valid_to ? Date.parse(lim.valid_to) : to);
    if (a >= b) continue;
    if (lim.upper !== null) upper.push([a, lim.upper, lim.source], [b, lim.upper, lim.source], [b, null]);
    if (lim.lower !== null) lower.push([a, lim.lower, lim.source], [b, lim.lower, lim.source], [b, null]);
    if (lim.upper !== null && lim.lower !== null) band.push([{ xAxis: a, yAxis: lim.lower }, { xAxis: b, yAxis: lim.upper }]);
  }
  const line = (data, id) => ({ id, name: tr("chart_limit"), type: "line", data, showSymbol: false, connectNulls: false,
    lineStyle: { color: COLOURS.limit, type: "dashed", width: 1.5 }, itemStyle: { color: COLOURS.limit },
    markArea: id === "limit" && band.length ? { silent: true, itemStyle: { color: COLOURS.band }, data: band } : undefined });
  return [upper.length ? line(upper, "limit") : null, lower.length ? line(lower, "limit-lower") : null].filter(Boolean);
}

// A legend entry whose series only shades periods of the x axis.
// A period of one instant (a single breaching value) is widened to stay visible.
function shading(id, name, colour, periods, range) {
  const from = +range.from, to = +range.to, least = (to - from) / 300;
  const data = periods.map(([a, b, label]) => [a, Math.max(b, a + least), label])
    .map(([a, b, label]) => [{ xAxis: Math.max(from, a), name: label }, { xAxis: Math.min(to, b) }])
    .filter(([a, b]) => a.xAxis < b.xAxis);
  return { id, name, type: "line", data: [], itemStyle: { color: colour }, lineStyle: { color: colour },
    markArea: { silent: false, itemStyle: { color: colour }, label: { show: false }, data } };
}

// From the first breaching value to the resolution, or to the last breaching value of an alert the data
// cleared; an alert still open runs to the end of the range.
function alertPeriods(alerts, range) {
  const end = +range.to;
  const over = (a) => a.resolved_at ? Date.parse(a.resolved_at) : a.state === "cleared" ? Date.parse(a.last_time) : end;
  return alerts.map((a) => [Date.parse(a.first_time || a.opened_at), over(a), `${a.kind} · ${a.severity}`]);
}

function markPeriods(marks, range) {
  return marks.filter((m) => m.status !== "withdrawn" && m.status !== "rejected")
    .map((m) => [Date.parse(m.from), m.to ? Date.parse(m.to) : +range.to, m.code]);
}

// --- the chart ------------------------------------------------------------------------------------------
function buildOption(data, range, opts, tr) {
  const { main } = data;
  const bucket = main.bucket;  // null: raw readings; "1h" / "1d": the stored means
  const unit = (main.units || {})[opts.parameter] || "";
  const series = [];
  if (bucket === null) {
    const good = [], bad = [];
    for (const r of main.items) (VALID.has(r.flag) ? good : bad).push([Date.parse(r.time), r.value, r.flag]);
    series.push({ id: "value", name: tr("chart_value"), type: "line", data: good, showSymbol: good.length < 200,
      symbolSize: 4, sampling: "lttb", lineStyle: { width: 1.2, color: COLOURS.value }, itemStyle: { color: COLOURS.value } });
    if (bad.length) series.push({ id: "invalid", name: tr("chart_invalid"), type: "scatter", data: bad, symbolSize: 5,
      itemStyle: { color: COLOURS.invalid } });
  }
  const overlay = (id, page, colour, dashed, isMain) => ({ id, name: tr(`chart_${id}`), type: "line", step: "start",
    data: meansData(page), showSymbol: false, connectNulls: false,
    lineStyle: { color: colour, width: isMain ? 1.5 : 2, type: dashed ? "dashed" : "solid" }, itemStyle: { color: colour } });
  if (bucket === "1h" || (bucket === null && data.hourly)) series.push(overlay("hourly", bucket === "1h" ? main : data.hourly, COLOURS.hourly, false, bucket === "1h"));
  if (bucket === "1d" || data.daily) series.push(overlay("daily", bucket === "1d" ? main : data.daily, COLOURS.daily, true, bucket === "1d"));
  series.push(...limitSeries(main, range, tr));
  const alerts = alertPeriods(data.alerts, range), marks = markPeriods(data.marks, range);
  if (alerts.length) series.push(shading("alerts", tr("chart_alerts"), COLOURS.alerts, alerts, range));
  if (marks.length) series.push(shading("marks", tr("chart_marks"), COLOURS.marks, marks, range));
  if (opts.highlight) series.push(shading("highlight", tr("chart_highlight"), COLOURS.highlight,
    [[+opts.highlight.from, +opts.highlight.to, tr("chart_highlight")]], range));
  const span = range.to - range.from;
  const tick = formatter(opts.lang, opts.tz, span <= 2 * DAY ? { hour: "2-digit", minute: "2-digit" } : { month: "2-digit", day: "2-digit" });
  const full = formatter(opts.lang, opts.tz, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const empty = !main.items.length;
  return {
    animation: false,
    title: { show: empty, text: tr("chart_no_data"), left: "center", top: "middle", textStyle: { color: "#6b7280", fontSize: 13, fontWeight: "normal" } },
    legend: { type: "scroll", top: 0, left: 0, right: 0, data: series.map((s) => s.name).filter((n, i, all) => all.indexOf(n) === i) },
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    tooltip: { trigger: "axis", confine: true, className: "oc-tip", formatter: (items) => tooltip(items, full, unit, tr) },
    xAxis: { type: "time", min: +range.from, max: +range.to, axisLabel: { hideOverlap: true, formatter: (v) => tick.format(new Date(v)) } },
    yAxis: { type: "value", scale: true,  // the unit is in the title
      // the limit stays in view even when every value is far below it (or, for pH, above its floor)
      max: (v) => Math.max(v.max, ...(main.limits || []).map((l) => l.upper ?? -Infinity)),
      min: (v) => Math.min(v.min, ...(main.limits || []).map((l) => l.lower ?? Infinity)) },
    series,
  };
}

function tooltip(params, full, unit, tr) {
  const items = (Array.isArray(params) ? params : [params]).filter((it) => Array.isArray(it.value));
  if (!items.length) return "";
  const lines = [`<div class="oc-tip-time">${esc(full.format(new Date(items[0].value[0])))}</div>`];
  for (const it of items) {
    const [, v, a, b] = it.value;
    if (v === null || v === undefined) continue;
    let extra = "";
    if (it.seriesId === "value" || it.seriesId === "invalid") extra = ` · ${tr("chart_flag")} ${esc(a)} ${esc(tr(`chart_flag_${a}`))}`;
    else if (it.seriesId === "hourly" || it.seriesId === "daily") extra = b !== undefined ? ` · ${tr("chart_valid_of")} ${a}/${b}` : "";
    else if (it.seriesId.startsWith("limit") && a) extra = ` · ${esc(a)}`;
    lines.push(`<div><span class="oc-tip-name">${esc(it.seriesName)}</span> <b>${esc(String(v))}</b> ${esc(unit)}${extra}</div>`);
  }
  return lines.join("");
}

function pickerHtml(state, tr) {
  const buttons = Object.keys(RANGES).map((k) =>
    `<button type="button" data-range="${k}" aria-pressed="${state.key === k}">${esc(tr(`chart_range_${k}`))}</button>`).join("");
  return `<div class="oc-picker" role="group" aria-label="${esc(tr("chart_range"))}">${buttons}
    <button type="button" data-range="custom" aria-pressed="${state.key === null}">${esc(tr("chart_custom"))}</button></div>
    <form class="oc-custom" hidden><label>${esc(tr("chart_from"))} <input type="datetime-local" name="from" required></label>
    <label>${esc(tr("chart_to"))} <input type="datetime-local" name="to" required></label>
    <button type="submit">${esc(tr("chart_apply"))}</button><span class="oc-error"></span></form>`;
}

export function mountSeriesChart(el, opts) {
  const lang = opts.lang === "en" ? "en" : "zh";
  const o = { tz: "Asia/Shanghai", ...opts, lang };
  const tr = (k) => STRINGS[lang][k] ?? (o.t ? o.t(k) : k);
  const base = `/api/v1/parks/${encodeURIComponent(o.park)}/plants/${encodeURIComponent(o.plant)}/points/${encodeURIComponent(o.point)}`;
  let state = resolveRange(o.range);
  let generation = 0;
  el.classList.add("oc-chart");
  el.innerHTML = `<div class="oc-head"><h3 class="oc-title"></h3>${pickerHtml(state, tr)}</div>
    <p class="oc-note" hidden></p><div class="oc-canvas"></div>`;
  const canvas = el.querySelector(".oc-canvas");
  let chart = null, resize = null;
  const ready = echartsLib().then((echarts) => {
    if (generation < 0) return;  // destroyed meanwhile
    performance.mark("oc-library");  // where a load's time goes (bench/console.py reads these marks)
    chart = echarts.init(canvas, null, { locale: lang === "zh" ? "ZH" : "EN" });
    resize = new ResizeObserver(() => chart.resize());
    resize.observe(canvas);
  });

  async function load() {
    const mine = ++generation;
    el.dataset.state = "loading";
    el.querySelectorAll(".oc-picker button").forEach((b) =>
      b.setAttribute("aria-pressed", String(b.dataset.range === (state.key ?? "custom"))));
    try {
      const [data] = await Promise.all([fetchAll(o, base, state).finally(() => performance.mark("oc-data")), ready]);
      if (mine !== generation) return;
      const p = (data.info.parameters || []).find((x) => x.code === o.parameter);
      const unit = (data.main.units || {})[o.parameter] || (p && p.unit) || "";
      el.querySelector(".oc-title").textContent = `${p ? (lang === "zh" ? p.name_zh : p.name_en) : o.parameter} (${unit})`;
      const note = el.querySelector(".oc-note");
      note.textContent = data.main.truncated ? tr("chart_truncated") : data.main.bucket ? tr("chart_means_shown") : "";
      note.hidden = !note.textContent;
      chart.setOption(buildOption(data, state, o, tr), { notMerge: true });
      el.dataset.bucket = data.main.bucket || "raw";
      el.dataset.points = String(data.main.items.length);
      el.dataset.from = state.from.toISOString();
      el.dataset.to = state.to.toISOString();
      el.dataset.state = "ready";
    } catch (e) {
      if (mine !== generation) return;
      if (chart) chart.clear();
      el.querySelector(".oc-note").textContent = `${tr("chart_error")}: ${e.message}`;
      el.querySelector(".oc-note").hidden = false;
      el.dataset.state = "error";
    }
  }

  const form = el.querySelector(".oc-custom");
  el.querySelector(".oc-picker").addEventListener("click", (ev) => {
    const key = ev.target.closest("button")?.dataset.range;
    if (!key) return;
    if (key === "custom") {
      form.hidden = !form.hidden;
      form.elements.from.value = dateToZoned(state.from, o.tz);
      form.elements.to.value = dateToZoned(state.to, o.tz);
      return;
    }
    form.hidden = true;
    state = resolveRange(key);
    load();
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const from = zonedToDate(form.elements.from.value, o.tz), to = zonedToDate(form.elements.to.value, o.tz);
    const ok = from && to && from < to && to - from <= MAX_SPAN;
    form.querySelector(".oc-error").textContent = ok ? "" : tr("chart_bad_range");
    if (!ok) return;
    state = { key: null, from, to };
    load();
  });
  load();
  return {
    destroy() {
      generation = -1;
      if (resize) resize.disconnect();
      if (chart) chart.dispose();
      el.innerHTML = "";
      el.classList.remove("oc-chart");
    },
    // for the page that embeds it (and its tests): the range shown now, and a reload of the same range
    get range() { return { key: state.key, from: state.from, to: state.to }; },
    reload: () => { if (state.key) state = resolveRange(state.key); return load(); },
  };
}
