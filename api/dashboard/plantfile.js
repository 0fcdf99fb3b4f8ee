// The plant file (一企一档, GET /parks/P/plants/X/file) drawn as sections of the plant page: permits,
// the limits in force with their source, the data loggers (HJ 212 edition configured and seen, quirks,
// last seen, clock drift, SM4 key generation), KPIs by month with their reports, and the incidents of
// the period with how each ended. Everything shown is what the file holds: compliance decided it.
import { DICT, lang, t, word } from "./i18n.js";
import {
  enc, esc, fmt, limitText, paramName, parameterList, pct, plantName, pointName, session, when,
} from "./core.js";
import { place } from "./incidents.js";

/** A word the dictionary may not have for a code from the server (a new quirk, a new transport):
 *  the code itself then, not a missing key. */
function known(group, code, fallback) { return DICT[lang()][`${group}.${code}`] ?? fallback ?? code; }
export function quirkWord(q) { return known("quirk", q.quirk, q.description); }
function quirkText(q) { return `${quirkWord(q)} ×${q.count}`; }

function day(iso) { return iso ? new Date(iso).toLocaleDateString("en-CA", { timeZone: session.tz }) : null; }
function span(from, to) {
  if (!from && !to) return esc(t("pf_open_end"));
  return `${esc(from || "…")} – ${esc(to || t("pf_open_end"))}`;
}
/** A table of the file: `pairs` (two labelled cells a line on a phone) or `stack` (one a line). */
function wrap(id, head, rows, layout = "pairs", cls = "") {
  return `<div class="table-wrap ${cls}"><table id="${id}" class="${layout} file-table"><thead><tr>${head.map((h) => `<th>${esc(t(h))}</th>`).join("")}</tr></thead>
    <tbody>${rows.join("")}</tbody></table></div>`;
}
// the value in one box: a phone's stacked row lays out the label and the value side by side
function td(label, html) { return `<td data-label="${esc(t(label))}"><div class="v">${html}</div></td>`; }
function unitOf(park, code) { return parameterList(park).find((p) => p.code === code)?.unit; }

export function summary(file) {
  const modes = file.plant.discharge_modes.map((m) => word("mode", m)).join(" · ") || "–";
  const first = file.kpis[0]?.month, last = file.kpis[file.kpis.length - 1]?.month;
  return `<p>${t("discharge_mode")} <b>${esc(modes)}</b> · ${t("pf_period")} <b>${esc(first)} – ${esc(last)}</b>
    (${file.months} ${t("pf_months")}) · ${t("pf_as_of")} ${when(file.as_of)}</p>`;
}

export function permits(park, file) {
  if (!file.permits.length) return `<p>${t("pf_no_permits")}</p>`;
  const rows = file.permits.map((p) => `<tr><th scope="row">${esc(p.ref)}</th>
    ${td("point", p.point ? esc(pointName(park, file.plant.id, p.point)) : esc(t("whole_plant")))}
    ${td("parameter", esc(paramName(park, p.parameter)))}
    ${td("limit", limitText(p.upper, p.lower, unitOf(park, p.parameter)))}
    ${td("pf_valid", span(p.valid_from, p.valid_to))}</tr>`);
  return wrap("permit-list", ["pf_permit_ref", "point", "parameter", "limit", "pf_valid"], rows);
}

function source(s) {
  if (s.kind === "permit") return `${esc(t("pf_src_permit"))} <b>${esc(s.permit)}</b>`;
  if (s.kind === "standard") {
    const note = s.note ? ` <small>(${esc(s.note)})</small>` : "";
    return `<span title="${esc(s.title || "")}">${esc(s.table || s.standard)}</span>${note}`;
  }
  return esc(s.label);
}

function limitCell(l) {
  if (l.not_detected) return esc(t("pf_not_detected"));
  return limitText(l.upper, l.lower, l.unit);
}

export function limits(park, file) {
  const rows = [];
  for (const p of file.points) {
    for (const q of p.parameters) {
      const now = q.limits.filter((l) => l.in_force);
      const name = `${esc(pointName(park, file.plant.id, p.id))} · ${esc(paramName(park, q.code))}`;
      if (!now.length) {
        rows.push(`<tr class="no-limit"><th scope="row">${name}</th>${td("limit", esc(t("pf_no_limit")))}${td("limit_source", "–")}${td("pf_valid", "–")}</tr>`);
        continue;
      }
      for (const l of now) {
        rows.push(`<tr><th scope="row">${name}</th>${td("limit", limitCell(l))}
          ${td("limit_source", l.sources.map(source).join("<br>") || "–")}
          ${td("pf_valid", span(day(l.valid_from), day(l.valid_to)))}</tr>`);
      }
    }
  }
  return rows.length ? wrap("limit-list", ["pf_series", "limit", "limit_source", "pf_valid"], rows) : `<p>${t("pf_no_limit")}</p>`;
}

function edition(g) {
  if (!g.mn) return "–";
  const seen = g.edition_seen ? esc(g.edition_seen) : t("pf_not_seen");
  const odd = g.edition && g.edition_seen && g.edition !== g.edition_seen;
  return `${esc(g.edition || "–")} / <span class="${odd ? "below" : ""}">${seen}</span>`;
}

function clock(c) {
  if (!c) return "–";
  const ahead = c.ahead_s >= 0;
  const text = `${t(ahead ? "pf_clock_ahead" : "pf_clock_behind")} ${fmt(Math.abs(c.ahead_s))} ${t("seconds")}`;
  const off = Math.abs(c.ahead_s) > 60;  // HJ 212 asks loggers to keep time; a minute off is worth a look
  return `<span class="${off ? "below" : ""}">${esc(text)}</span><br>
    <small>${c.messages} ${esc(t("pf_messages"))} · ${esc(known("clockbasis", c.basis))}</small>`;
}

function sm4(k) {
  if (!k) return "–";
  const pending = k.pending_generation ? `<br><small>${esc(t("pf_sm4_pending"))} ${k.pending_generation}</small>` : "";
  const older = k.older_live_until ? `<br><small>${esc(t("pf_sm4_older"))} ${when(k.older_live_until)}</small>` : "";
  return `${esc(t("pf_generation"))} <b>${k.generation}</b> <small>${esc(t("pf_issued"))} ${when(k.issued_at)}</small>${pending}${older}`;
}

export function loggers(park, file) {
  const rows = file.points.map((p) => {
    const g = p.logger;
    return `<tr><th scope="row">${esc(pointName(park, file.plant.id, p.id))}${p.active ? "" : ` (${t("inactive")})`}</th>
      ${td("mn", esc(g.mn || "–"))}${td("pf_edition", edition(g))}
      ${td("pf_transport", g.transport ? esc(known("transport", g.transport)) : "–")}
      ${td("last_seen", when(g.last_seen))}${td("pf_clock", clock(g.clock))}${td("pf_sm4", sm4(g.sm4))}
      ${td("interval", `${esc(p.interval_s)} ${t("seconds")}`)}${td("standard", esc(p.standard || "–"))}
      ${td("discharge_mode", esc(word("mode", p.discharge_mode)))}
      ${td("pf_quirks", g.quirks.map((q) => esc(quirkText(q))).join("<br>") || "–")}</tr>`;
  });
  return wrap("loggers", ["point", "mn", "pf_edition", "pf_transport", "last_seen", "pf_clock", "pf_sm4",
    "interval", "standard", "discharge_mode", "pf_quirks"], rows);
}

function reportLink(park, plant, kind, period, label) {
  return `<a href="#/reports?park=${enc(park)}&plant=${enc(plant)}&kind=${kind}&period=${enc(period)}">${esc(label)}</a>`;
}

export function kpiMonths(park, file) {
  const plant = file.plant.id;
  const first = file.kpis.findIndex((m) => m.days_closed > 0);
  // months before anything was closed say nothing: from the first with a closed day (or the current one)
  const shown = file.kpis.slice(first < 0 ? file.kpis.length - 1 : first);
  const rows = [...shown].reverse().map((m) => {
    const k = m.kpi;
    const has = m.days_closed > 0;
    const below = has && k.warning;
    const daily = m.last_daily_report ? m.last_daily_report.split("/").pop() : null;
    return `<tr class="${below ? "below-row" : ""}${has ? "" : " no-data"}" data-month="${esc(m.month)}"><th scope="row">${esc(m.month)}${below ? ` <b class="below">${esc(t("below_target"))}</b>` : ""}</th>
      ${td("pf_days_closed", esc(m.days_closed))}
      ${td("transmission_rate", has ? pct(k.transmission_rate) : "–")}${td("validity_rate", has ? pct(k.validity_rate) : "–")}
      ${td("effective_rate", has ? `<b>${pct(k.effective_rate)}</b>` : "–")}
      ${td("reports", `${reportLink(park, plant, "month", m.month, t("monthly_report"))}${daily ? ` · ${reportLink(park, plant, "day", daily, `${t("daily_report")} ${daily}`)}` : ""}`)}</tr>`;
  });
  const target = file.kpis.length ? `<p>${t("pf_target")} <b>${pct(file.kpis[0].kpi.target)}</b>${shown.length < file.kpis.length ? ` · ${t("pf_earlier_none")}` : ""}</p>` : "";
  return target + wrap("kpi-months", ["month", "pf_days_closed", "transmission_rate", "validity_rate", "effective_rate", "reports"], rows);
}

function outcome(i) {
  const a = i.alert;
  const parts = [];
  if (i.outcome === "withdrawn") parts.push(`${esc(t("pf_withdrawn"))} ${i.withdrawn_by_marks.map((m) => `#${esc(m)}`).join(", ")}`);
  else if (i.outcome === "resolved" && i.closed) {
    parts.push(`${esc(t("pf_closed_by"))} ${esc(i.closed.by)} · ${when(i.closed.at)}${i.closed.note ? `<br><q>${esc(i.closed.note)}</q>` : ""}`);
  } else parts.push(esc(word("state", i.outcome === "withdrawn" ? "resolved" : i.outcome)));
  if (a.explanation) parts.push(`${esc(t("explanation"))}: ${esc(word("expl", a.explanation))}`);
  return parts.join("<br>");
}

export function periodIncidents(file) {
  const list = file.incidents.recent;
  if (!list.length) return `<p>${t("none")}</p>`;
  const rows = list.map((i) => {
    const a = i.alert;
    return `<tr class="outcome-${esc(i.outcome)}"><th scope="row"><a href="#/incidents/${a.id}">#${a.id}</a>
      <span class="sev sev-${esc(a.severity)}">${esc(word("sev", a.severity))}</span></th>
      ${td("kind", `${esc(word("kind", a.kind))} · ${esc(paramName(a.park, a.parameter))}`)}
      ${td("place", place(a))}${td("opened", when(a.opened_at))}${td("pf_outcome", outcome(i))}</tr>`;
  });
  const more = file.incidents.truncated ? `<p class="help">${t("pf_truncated")}</p>` : "";
  return wrap("period-incidents", ["incident", "kind", "place", "opened", "pf_outcome"], rows, "stack", "scroll") + more;
}

/** What needs an officer now: active, and cleared by the data but not closed (the file's open list
 *  holds the active ones; cleared ones are among the period's). */
export function needingOfficer(file) {
  const seen = new Set(file.incidents.open.map((i) => i.alert.id));
  const cleared = file.incidents.recent.filter((i) => i.outcome === "cleared" && !seen.has(i.alert.id));
  return [...file.incidents.open, ...cleared].map((i) => i.alert);
}

export function heading(park, file) {
  return `${esc(plantName(park, file.plant.id))} <small>${esc(word("plkind", file.plant.kind))} · ${esc(file.plant.id)}</small>`;
}
