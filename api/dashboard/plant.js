// One plant's file at its own URL (#/parks/P/plants/X): the live status of its points and a chart, then
// the plant file (一企一档, drawn by plantfile.js: permits, limits in force and their source, data
// loggers, KPIs by month with their reports, the period's incidents and how each ended), data marks;
// and the point page. Each draw asks for the live status and the file once each.
import { t, word } from "./i18n.js";
import {
  api, download, enc, esc, limitText, loadNames, localDay, paramName, parkName, pct, plantName, pointName,
  pointNamed, when, withUnit,
} from "./core.js";
import { mountSeries, warmCharts } from "./graph.js";
import { bindDeclare, bindMarks, declareForm, markCodes, marksTable } from "./marks.js";
import { place } from "./incidents.js";
import * as pf from "./plantfile.js";

const MONTHS = 12;  // of the file
const MARKS_SHOWN = 50;

function statusTable(park, plant, s) {
  const rows = s.points.map((p) => p.parameters.map((q, i) => `<tr>
    ${i === 0 ? `<th scope="rowgroup" rowspan="${p.parameters.length}"><a href="#/parks/${enc(park)}/plants/${enc(plant)}/points/${enc(p.point)}">${esc(pointName(park, plant, p.point))}</a>
      <small>${pointNamed(park, plant, p.point) ? `${esc(word("pkind", p.kind))} · ` : ""}${p.online ? t("online") : `<b class="offline-word">${t("offline")}</b>`} · ${when(p.last_seen)}</small></th>` : ""}
    <td data-label="${esc(t("parameter"))}">${esc(paramName(park, q.parameter))}</td>
    <td data-label="${esc(t("value"))}" class="lvl-${esc(q.level)}">${withUnit(q.value, q.unit)}</td>
    <td data-label="${esc(t("flag"))}">${q.flag ? `${esc(q.flag)} ${esc(word("flag", q.flag))}` : "–"}</td>
    <td data-label="${esc(t("limit"))}">${limitText(q.limit_upper, q.limit_lower, q.unit)}</td>
    <td data-label="${esc(t("ratio"))}">${q.unit === "pH" || q.limit_lower !== null ? "–" : pct(q.ratio)}</td>
    <td data-label="${esc(t("valid_rate"))}">${pct(q.valid_rate_today)}</td></tr>`).join("")).join("");
  return `<div class="table-wrap"><table id="plant-status" class="pairs"><thead><tr><th>${t("point")}</th><th>${t("parameter")}</th>
    <th>${t("value")}</th><th>${t("flag")}</th><th>${t("limit")}</th><th>${t("ratio")}</th><th>${t("valid_rate")}</th></tr></thead>
    <tbody>${rows}</tbody></table></div>`;
}

function kpiCard(k, day) {
  if (!k || !k.period.closed) return `<p>${t("kpi_day")} ${esc(day)} · ${t("no_kpi")}</p>`;
  const cls = k.kpi.warning ? "below" : "";
  return `<p class="${cls}">${t("kpi_day")} ${esc(k.period.label)} · ${t("effective_rate")} <b>${pct(k.kpi.effective_rate)}</b>
    (${t("transmission_rate")} ${pct(k.kpi.transmission_rate)} · ${t("validity_rate")} ${pct(k.kpi.validity_rate)} ·
    ${t("target")} ${pct(k.kpi.target)})${k.kpi.warning ? ` <b>${t("below_target")}</b>` : ""}</p>`;
}

function incidentList(list) {
  if (!list.length) return `<p>${t("none")}</p>`;
  return `<ul class="incident-list">${list.map((a) => `<li><a href="#/incidents/${a.id}"><span class="sev sev-${esc(a.severity)}">${esc(word("sev", a.severity))}</span>
    ${esc(word("kind", a.kind))} · ${esc(paramName(a.park, a.parameter))}</a> · ${place(a)} · ${when(a.opened_at)} · ${esc(word("state", a.state))}</li>`).join("")}</ul>`;
}

function chartPicker(park, s) {
  // opens on the parameter nearest its limit (or over it)
  const all = s.points.flatMap((p) => p.parameters.map((q) => ({ p, q })));
  const worst = all.reduce((w, x) => ((x.q.ratio ?? -1) > (w?.q.ratio ?? -1) ? x : w), null);
  const opts = all.map(({ p, q }) => `<option value="${esc(p.point)}|${esc(q.parameter)}"${q === worst?.q ? " selected" : ""}>
    ${esc(pointName(park, s.plant, p.point))} · ${esc(paramName(park, q.parameter))}</option>`);
  return opts.length ? `<label>${t("chart")} <select id="chart-pick">${opts.join("")}</select></label><div id="plant-chart" class="chart-box"></div>` : "";
}

export async function plantPage(view, park, plant) {
  warmCharts();
  const words = Promise.all([loadNames(park), markCodes()]);  // asked with the plant's data
  const base = `/api/v1/parks/${enc(park)}/plants/${enc(plant)}`;
  const yesterday = localDay(new Date(Date.now() - 86400e3));
  let chart = null;
  const draw = async () => {
    const [s, file, kpi] = await Promise.all([api(`${base}/status`), api(`${base}/file?months=${MONTHS}`),
      api(`${base}/kpis?day=${yesterday}`).catch(() => null), words]);
    const incidents = pf.needingOfficer(file);
    const picked = view.querySelector("#chart-pick")?.value;
    if (chart) { chart.destroy(); chart = null; }
    view.innerHTML = `<p><a href="#/parks/${enc(park)}">${esc(parkName(park))}</a> › ${esc(plantName(park, plant))}</p>
      <section class="card" id="plant-file"><h2>${pf.heading(park, file)}</h2>
      <p>${t("valid_rate")} <b>${pct(s.valid_rate_today)}</b> · ${t("open_incidents")} <b>${incidents.length}</b> · ${when(s.as_of)}</p>
      ${pf.summary(file)}
      <p class="links"><a class="button" href="#/reports?park=${enc(park)}&plant=${enc(plant)}">${t("reports")}</a>
      <button type="button" id="plant-file-download">${t("pf_download")}</button>
      <a class="button" href="#/incidents?park=${enc(park)}&plant=${enc(plant)}">${t("incidents")}</a></p></section>
      <section class="card"><h3>${t("status")}</h3>${statusTable(park, plant, s)}</section>
      <section class="card"><h3>${t("chart")}</h3>${chartPicker(park, s)}</section>
      <section class="card" id="plant-open"><h3>${t("open_incidents")}</h3>${incidentList(incidents)}</section>
      <section class="card" id="plant-kpis"><h3>${t("pf_kpi_months")}</h3>${kpiCard(kpi, yesterday)}${pf.kpiMonths(park, file)}</section>
      <section class="card" id="plant-limits"><h3>${t("pf_limits")}</h3>${pf.limits(park, file)}</section>
      <section class="card" id="plant-permits"><h3>${t("pf_permits")}</h3>${pf.permits(park, file)}</section>
      <section class="card" id="plant-loggers"><h3>${t("loggers")}</h3>${pf.loggers(park, file)}</section>
      <section class="card" id="plant-incidents"><h3>${t("pf_period_incidents")}</h3>${pf.periodIncidents(file)}</section>
      <section class="card" id="plant-marks"><h3>${t("marks")}</h3>${marksTable(file.marks.slice(0, MARKS_SHOWN))}${await declareForm(park, plant)}</section>`;
    const pick = view.querySelector("#chart-pick");
    if (pick) {
      if (picked) pick.value = picked;
      const mount = async () => {
        if (chart) chart.destroy();
        const [point, parameter] = pick.value.split("|");
        chart = await mountSeries(view.querySelector("#plant-chart"), { park, plant, point, parameter, range: "24h" }).catch(() => null);
      };
      pick.addEventListener("change", mount);
      mount();
    }
    view.querySelector("#plant-file-download").addEventListener("click", () =>
      download(`${base}/file?months=${MONTHS}`, `plant-file-${plant}.json`).catch((e) => { view.querySelector("#plant-file .links").insertAdjacentHTML("beforeend", `<span class="error">${esc(e.message)}</span>`); }));
    bindMarks(view.querySelector("#plant-marks"), draw);
    bindDeclare(view, park, plant, draw);
  };
  await draw();
  let pending = null;
  return (event, data) => {
    const mine = (event === "alert" && data.alert.plant === plant) || (event === "plant" && (data.plant === plant || data.plant?.plant === plant));
    if (mine && !pending && !view.querySelector("#declare-mark :focus, .note:focus")) {
      pending = setTimeout(() => { pending = null; draw(); }, 1000);
    }
  };
}

export async function pointPage(view, park, plant, point, query = new URLSearchParams()) {
  warmCharts();
  const range = query.get("range") || "24h";  // a key of the chart's range picker (1h ... 1y); others show 24 h
  const base = `/api/v1/parks/${enc(park)}/plants/${enc(plant)}/points/${enc(point)}`;
  const [, info] = await Promise.all([loadNames(park), api(base)]);
  const quirks = (info.logger_quirks || []).map((q) => `<tr><td>${esc(pf.quirkWord(q))}</td><td>${esc(q.count)}</td>
    <td>${when(q.last_seen)}</td></tr>`).join("");
  view.innerHTML = `<p><a href="#/parks/${enc(park)}">${esc(parkName(park))}</a> ›
    <a href="#/parks/${enc(park)}/plants/${enc(plant)}">${esc(plantName(park, plant))}</a> › ${esc(pointName(park, plant, point))}</p>
    <section class="card"><h2>${esc(pointName(park, plant, point))}${pointNamed(park, plant, point) ? ` <small>${esc(word("pkind", info.kind))}</small>` : ""}</h2>
    ${quirks ? `<h3>${t("quirks")}</h3><table><tr><th>${t("kind")}</th><th>${t("count")}</th><th>${t("last_seen")}</th></tr>${quirks}</table>` : ""}</section>` +
    info.parameters.map((p) => `<section class="card"><h3>${esc(paramName(park, p.code))} <small>${esc(p.unit)}</small></h3>
      <div class="chart-box" data-parameter="${esc(p.code)}"></div></section>`).join("");
  // A chart is drawn when it comes near the screen (as Grafana draws its panels): a point has up to a
  // dozen parameters, and drawing them all before the page shows took a second of the browser's time.
  // The charts drawn together ask once for the alerts and marks they share.
  const asked = new Map();
  let sharing = true;
  const shared = (path) => {
    if (!sharing) return api(path);
    if (!asked.has(path)) asked.set(path, api(path));
    return asked.get(path);
  };
  const draw = (el) => mountSeries(el, { park, plant, point, parameter: el.dataset.parameter, range, info, api: shared }).catch(() => null);
  const first = await new Promise((seen) => {
    const near = new IntersectionObserver((entries) => {
      const shown = entries.filter((e) => e.isIntersecting).map((e) => { near.unobserve(e.target); return draw(e.target); });
      if (seen) { seen(shown); seen = null; }
    });
    view.querySelectorAll(".chart-box[data-parameter]").forEach((el) => near.observe(el));
    if (!info.parameters.length) { seen([]); seen = null; }
  });
  await Promise.all(first);
  sharing = false;  // charts drawn later (scrolled to, or a range picked) ask afresh
  return null;
}

