// Incidents: the queue of everything needing an officer (open, acknowledged, and cleared by the data but
// not yet closed), filtered by the hash's query so a filtered queue has its own URL, live over SSE; and
// one page per incident with its evidence, limit, marks, history and the officer's actions.
import { t, word } from "./i18n.js";
import {
  api, download, enc, esc, fmt, fromLocalInput, limitText, loadNames, named, paramName, plantList, plantName,
  pointName, post, session, toLocalInput, when, withUnit,
} from "./core.js";
import { mountSeries, warmCharts } from "./graph.js";

export const KINDS = ["exceedance", "hourly_mean", "daily_mean", "offline", "instrument_fault", "over_range",
  "implausible", "flatline", "rate_of_change", "reuse_ratio", "mass_balance", "integrity", "zero_value",
  "negative_value", "near_limit", "stopped_running"];
export const SEVERITIES = ["critical", "violation", "warning"];
export const STATES = ["open", "acknowledged", "cleared", "resolved"];
const WORKING = ["open", "acknowledged", "cleared"];

function options(values, group, selected) {
  return `<option value="">${esc(t("all"))}</option>` + values.map((v) =>
    `<option value="${esc(v)}"${v === selected ? " selected" : ""}>${esc(group ? word(group, v) : v)}</option>`).join("");
}

function filterForm(query) {
  const park = query.get("park") || (session.parks.length === 1 ? session.parks[0].id : "");
  const plants = park ? plantList(park) : [];
  const local = (k) => (query.get(k) ? toLocalInput(new Date(query.get(k))) : "");
  const states = query.getAll("state");
  return `<form id="filters" class="filters">
    <label>${t("park")}<select name="park">${session.parks.length > 1 ? `<option value="">${esc(t("all"))}</option>` : ""}${session.parks.map((p) =>
      `<option value="${esc(p.id)}"${p.id === park ? " selected" : ""}>${esc(named(p, p.id))}</option>`).join("")}</select></label>
    <label>${t("plant")}<select name="plant"><option value="">${esc(t("all"))}</option>${plants.map((p) =>
      `<option value="${esc(p.id)}"${p.id === query.get("plant") ? " selected" : ""}>${esc(plantName(park, p.id))}</option>`).join("")}</select></label>
    <label>${t("kind")}<select name="kind">${options(KINDS, "kind", query.get("kind"))}</select></label>
    <label>${t("severity")}<select name="severity">${options(SEVERITIES, "sev", query.get("severity"))}</select></label>
    <label>${t("state")}<select name="state"><option value="">${esc(STATES.slice(0, 3).map((s) => word("state", s)).join(" · "))}</option>
      ${STATES.map((s) => `<option value="${s}"${states.length === 1 && states[0] === s ? " selected" : ""}>${esc(word("state", s))}</option>`).join("")}</select></label>
    <label>${t("from")}<input type="datetime-local" name="from" value="${local("from")}"></label>
    <label>${t("to")}<input type="datetime-local" name="to" value="${local("to")}"></label>
    <button type="submit">${t("apply")}</button> <a href="#/incidents" class="button">${t("reset")}</a></form>`;
}

function readFilters(form) {
  const q = new URLSearchParams();
  for (const k of ["park", "plant", "kind", "severity", "state"]) { const v = form.elements[k].value; if (v) q.set(k, v); }
  for (const k of ["from", "to"]) { const d = fromLocalInput(form.elements[k].value); if (d) q.set(k, d.toISOString()); }
  return q;
}

function apiQuery(query) {
  const q = new URLSearchParams({ limit: "500" });
  for (const k of ["park", "plant", "kind", "severity", "from", "to"]) if (query.get(k)) q.set(k, query.get(k));
  (query.getAll("state").length ? query.getAll("state") : WORKING).forEach((s) => q.append("state", s));
  return q;
}

function matches(a, query) {
  const states = query.getAll("state").length ? query.getAll("state") : WORKING;
  if (!states.includes(a.state)) return false;
  for (const k of ["park", "plant", "kind", "severity"]) if (query.get(k) && a[k] !== query.get(k)) return false;
  return true;
}

export function place(a) {
  return `<a href="#/parks/${enc(a.park)}/plants/${enc(a.plant)}">${esc(plantName(a.park, a.plant))}</a> / ${esc(pointName(a.park, a.plant, a.point))}`;
}

function row(a) {
  const canAck = session.me.may_change_alerts && a.state === "open";
  // an alert whose condition is over (cleared by the data) or already acknowledged is closed by an officer
  const canClose = session.me.may_change_alerts && (a.state === "cleared" || a.state === "acknowledged");
  const actions = canAck || canClose ? `<input class="note" placeholder="${esc(t("note_placeholder"))}" aria-label="${esc(t("note"))}">`
    + (canAck ? `<button class="ack">${t("ack")}</button>` : "") + (canClose ? `<button class="resolve">${t("resolve")}</button>` : "") : "";
  return `<tr id="alert-${a.id}" class="state-${esc(a.state)}" data-id="${a.id}">
    <td data-label="${esc(t("opened"))}"><a class="detail" href="#/incidents/${a.id}">${when(a.opened_at)}</a></td>
    <td data-label="${esc(t("place"))}">${place(a)}</td>
    <td data-label="${esc(t("parameter"))}">${esc(paramName(a.park, a.parameter))}</td>
    <td data-label="${esc(t("kind"))}">${esc(word("kind", a.kind))}</td>
    <td data-label="${esc(t("severity"))}"><span class="sev sev-${esc(a.severity)}">${esc(word("sev", a.severity))}</span></td>
    <td data-label="${esc(t("peak"))}">${withUnit(a.peak, a.unit)}</td>
    <td data-label="${esc(t("limit"))}">${limitText(a.limit, a.limit_lower, a.unit)}</td>
    <td data-label="${esc(t("state"))}">${esc(word("state", a.state))}</td>
    <td class="actions">${actions}<a class="button" href="#/incidents/${a.id}">${t("open_detail")}</a></td></tr>`;
}

function counts(list) {
  const by = (field, values, group) => values.map((v) => {
    const n = list.filter((a) => a[field] === v).length;
    return n ? `<span class="chip ${field}-${v}">${esc(word(group, v))} <b>${n}</b></span>` : "";
  }).join("");
  return `<span class="chip">${t("total")} <b id="count-total">${list.length}</b></span>` +
    by("state", STATES, "state") + by("severity", SEVERITIES, "sev");
}

const FEW_PARKS = 4;

export async function queue(view, query) {
  // the names of the parks in the list: asked with it when the officer has a few parks, else once the
  // list says which parks it shows (an officer of every park need not fetch every park's names); the
  // filtered park's for its plant filter
  const first = session.parks.length <= FEW_PARKS ? session.parks.map((p) => p.id) : [query.get("park")];
  const asked = first.filter(Boolean).map(loadNames);
  const found = await api("/api/v1/alerts?" + apiQuery(query).toString());
  await Promise.all([...asked, ...[...new Set(found.map((a) => a.park))].map(loadNames)]);
  view.innerHTML = `<section class="card"><h2>${t("incidents")}</h2><p class="help">${t("incidents_help")}</p>
    ${filterForm(query)}<p id="counts" class="counts"></p>
    <div class="table-wrap"><table id="inbox" class="stack"><thead><tr><th>${t("opened")}</th><th>${t("place")}</th>
    <th>${t("parameter")}</th><th>${t("kind")}</th><th>${t("severity")}</th><th>${t("peak")}</th><th>${t("limit")}</th>
    <th>${t("state")}</th><th>${t("action")}</th></tr></thead><tbody></tbody></table></div>
    <p id="inbox-empty">${t("none")}</p></section>`;
  view.querySelector("#filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = "#/incidents?" + readFilters(ev.target).toString();
  });
  const body = view.querySelector("#inbox tbody");
  const rows = new Map();
  const render = () => {
    const sorted = [...rows.values()].sort((a, b) => b.id - a.id);
    // notes being typed survive a live re-render
    const typed = new Map([...body.querySelectorAll("tr[data-id] .note")].map((n) => [n.closest("tr").dataset.id, n.value]));
    const focused = document.activeElement?.closest?.("#inbox tr[data-id]")?.dataset.id;
    body.innerHTML = sorted.map(row).join("");
    for (const [id, value] of typed) {
      const input = body.querySelector(`tr[data-id="${id}"] .note`);
      if (input) { input.value = value; if (id === focused) input.focus(); }
    }
    view.querySelector("#inbox-empty").hidden = sorted.length > 0;
    view.querySelector("#counts").innerHTML = counts(sorted);
  };
  found.forEach((a) => rows.set(a.id, a));
  render();
  body.addEventListener("click", async (ev) => {
    const action = ev.target.classList.contains("ack") ? "ack" : ev.target.classList.contains("resolve") ? "resolve" : null;
    if (!action) return;
    const tr = ev.target.closest("tr");
    ev.target.disabled = true;
    const updated = await post(`/api/v1/alerts/${tr.dataset.id}/${action}`, { note: tr.querySelector(".note").value || null });
    if (matches(updated, query)) rows.set(updated.id, updated); else rows.delete(updated.id);
    render();
  });
  return async (event, data) => {
    if (event !== "alert") return;
    const a = data.alert;
    await loadNames(a.park).catch(() => null);
    if (matches(a, query)) rows.set(a.id, a); else rows.delete(a.id);
    render();
    const tr = document.getElementById("alert-" + a.id);
    if (tr) tr.classList.add("new");
  };
}

// --- one incident ----------------------------------------------------------------------------------------
function facts(a) {
  const item = (k, v) => (v === null || v === undefined || v === "" ? "" : `<dt>${t(k)}</dt><dd>${v}</dd>`);
  return `<dl class="facts">
    ${item("place", place(a))}${item("parameter", esc(paramName(a.park, a.parameter)))}
    ${item("kind", esc(word("kind", a.kind)))}${item("severity", `<span class="sev sev-${esc(a.severity)}">${esc(word("sev", a.severity))}</span>`)}
    ${item("state", `<b id="incident-state">${esc(word("state", a.state))}</b>`)}
    ${item("opened", when(a.opened_at))}${item("first_time", when(a.first_time))}${item("last_time", when(a.last_time))}
    ${item("peak", withUnit(a.peak, a.unit))}${item("value", withUnit(a.value, a.unit))}
    ${item("limit", limitText(a.limit, a.limit_lower, a.unit))}${item("limit_source", esc(a.limit_source))}
    ${item("basis", esc(word("basis", a.basis)))}${item("count", esc(a.count))}${item("escalation", a.escalation ? esc(a.escalation) : "")}
    ${item("acked_by", a.acknowledged_by ? `${esc(a.acknowledged_by)} · ${when(a.acknowledged_at)}` : "")}
    ${item("resolved_by", a.resolved_by ? `${esc(a.resolved_by)} · ${when(a.resolved_at)}` : "")}
    ${item("explanation", a.explanation ? esc(word("expl", a.explanation)) : "")}
    ${item("sample", a.sample ? `${esc(word("sample", a.sample.state))}${a.sample.at ? " · " + when(a.sample.at) : ""}` : esc(t("no_sample")))}
    ${a.during_maintenance ? `<dt>${t("during_maintenance")}</dt><dd>#${esc(a.during_maintenance)}</dd>` : ""}
    ${a.muted ? `<dt>${t("muted")}</dt><dd>${esc(word("mute", a.muted))}</dd>` : ""}</dl>`;
}

function over(v, a) {
  return (a.limit !== null && v > a.limit) || (a.limit_lower !== null && v < a.limit_lower);
}

function values(d) {
  if (!d.evidence.length) return `<p>${t("no_values")}</p>`;
  const a = d.alert;
  return `<div class="table-wrap scroll"><table id="evidence"><thead><tr><th>${t("time")}</th><th>${t("value")}</th>
    <th>${t("flag")}</th></tr></thead><tbody>${d.evidence.map((r) => `<tr class="${over(r.value, a) ? "over" : ""}">
    <td>${when(r.time)}</td><td>${withUnit(r.value, a.unit)}</td><td>${esc(r.flag)} ${esc(word("flag", r.flag))}</td></tr>`).join("")}
    </tbody></table></div>`;
}

function history(audit) {
  return `<table id="audit" class="stack"><thead><tr><th>${t("time")}</th><th>${t("action")}</th><th>${t("actor")}</th>
    <th>${t("state_change")}</th><th>${t("note")}</th></tr></thead><tbody>${audit.map((x) => `<tr><td data-label="${esc(t("time"))}">${when(x.at)}</td>
    <td data-label="${esc(t("action"))}">${esc(word("act", x.action))}</td><td data-label="${esc(t("actor"))}">${esc(x.actor)}</td>
    <td data-label="${esc(t("state_change"))}">${x.to_state && x.to_state !== x.from_state ? `${x.from_state ? esc(word("state", x.from_state)) + " → " : ""}${esc(word("state", x.to_state))}` : "–"}</td>
    <td data-label="${esc(t("note"))}">${esc(x.note || "–")}</td></tr>`).join("")}</tbody></table>`;
}

function marksList(park, marks) {
  if (!marks.length) return `<p>${t("no_marks")}</p>`;
  return `<ul class="marks">${marks.map((m) => `<li><a href="#/marks?park=${enc(park)}&plant=${enc(m.plant)}">${esc(m.code)}</a>
    ${when(m.from)} – ${when(m.to)} · ${esc(word("mstatus", m.status))} · ${esc(m.note)}</li>`).join("")}</ul>`;
}

function actions(a) {
  const officer = session.me.may_change_alerts;
  const b = (cls, key, show) => (show ? `<button type="button" class="${cls}">${t(key)}</button>` : "");
  return `<form id="incident-actions" class="actions-form">
    <textarea name="note" rows="2" placeholder="${esc(t("note_placeholder"))}" aria-label="${esc(t("note"))}"></textarea>
    <div class="buttons">${b("ack", "ack", officer && a.state === "open")}${b("annotate", "annotate", a.state !== "resolved")}
    ${b("resolve", "resolve", officer && a.state !== "resolved")}
    ${b("explain", "explain", !officer && session.me.may_declare_maintenance && ABNORMAL.includes(a.kind) && !["pending", "accepted"].includes(a.explanation))}
    ${b("accept-explanation", "accept_explanation", officer && a.explanation === "pending")}
    ${b("reject-explanation", "reject_explanation", officer && a.explanation === "pending")}
    ${officer ? `<button type="button" class="export">${t("export_evidence")}</button>` : ""}</div>
    <p class="error" id="action-error"></p><p id="exported"></p></form>`;
}

// abnormal-data kinds (compliance.models.ABNORMAL_DATA_KINDS): the plant's operator explains them first
const ABNORMAL = ["zero_value", "negative_value", "flatline", "rate_of_change", "near_limit", "stopped_running"];
const ACTION_PATHS = { ack: "ack", annotate: "annotate", resolve: "resolve", explain: "annotate",
  "accept-explanation": "explanation/accept", "reject-explanation": "explanation/reject" };

export async function detail(view, id) {
  warmCharts();
  let chart = null;
  const draw = async () => {
    const d = await api(`/api/v1/alerts/${enc(id)}`);
    const a = d.alert;
    const [, marks] = await Promise.all([loadNames(a.park),
      api(`/api/v1/marks?park=${enc(a.park)}&plant=${enc(a.plant)}&from=${enc(d.evidence_from)}&to=${enc(d.evidence_to)}`)
        .catch(() => [])]);
    if (chart) chart.destroy();
    const typed = view.querySelector("#incident-actions textarea")?.value || "";  // kept across a live redraw
    view.innerHTML = `<p><a href="#/incidents">← ${t("back_to_queue")}</a></p>
      <section class="card" id="incident"><h2>${t("incident")} #${a.id} · ${esc(word("kind", a.kind))} ·
      ${esc(paramName(a.park, a.parameter))}</h2>${facts(a)}${actions(a)}</section>
      <section class="card"><h3>${t("evidence_window")}: ${when(d.evidence_from)} – ${when(d.evidence_to)}</h3>
      <div id="incident-chart" class="chart-box"></div></section>
      <section class="card"><h3>${t("evidence_values")}</h3>${values(d)}</section>
      <section class="card"><h3>${t("marks_in_window")}</h3>${marksList(a.park, marks)}</section>
      <section class="card"><h3>${t("notes")}</h3><div class="table-wrap">${history(d.audit)}</div></section>`;
    view.querySelector("#incident-actions textarea").value = typed;
    bind(view, a, draw);  // before the chart: the buttons work as soon as they are shown
    if (a.parameter) {
      chart = await mountSeries(view.querySelector("#incident-chart"), {
        park: a.park, plant: a.plant, point: a.point, parameter: a.parameter,
        range: { from: new Date(d.evidence_from), to: new Date(d.evidence_to) },
        highlight: { from: new Date(a.first_time), to: new Date(a.last_time) },
      }).catch(() => null);
    }
  };
  await draw();
  return (event, data) => { if (event === "alert" && String(data.alert.id) === String(id)) draw(); };
}

function bind(view, a, draw) {
  const form = view.querySelector("#incident-actions");
  const error = form.querySelector("#action-error");
  form.addEventListener("click", async (ev) => {
    const cls = [...ev.target.classList].find((c) => ACTION_PATHS[c] || c === "export");
    if (!cls || ev.target.tagName !== "BUTTON") return;
    const note = form.elements.note.value.trim();
    error.textContent = "";
    try {
      if (cls === "export") {
        const headers = await download(`/api/v1/alerts/${a.id}/evidence`, `alert-${a.id}-evidence.zip`);
        form.querySelector("#exported").textContent = `${t("exported")} ${headers.get("x-evidence-sha256") || ""}`;
        return;
      }
      if (cls === "resolve" && !note) { error.textContent = t("needs_note"); return; }
      if ((cls === "annotate" || cls === "explain") && !note) return;
      ev.target.disabled = true;
      const body = cls === "explain" ? { note, kind: "explanation" } : { note: note || null };
      await post(`/api/v1/alerts/${a.id}/${ACTION_PATHS[cls]}`, body);
      form.elements.note.value = "";
      await draw();
    } catch (e) {
      error.textContent = e.message;
      ev.target.disabled = false;
    }
  });
}
