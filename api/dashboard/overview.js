// The park overview: the park's KPIs (points online, incidents open, effective transmission rate of
// the last closed day), the central plant's inflow, outflow and reuse ratio against its target
// (highlighted when below), a site plan when the park file places its plants, and one tile per plant,
// coloured by its worst open incident and dashed when a point is offline. What is judged comes from
// the API (compliance decides); this only draws it. No inline styles or scripts (the CSP forbids them).

export const STRINGS = {
  zh: {
    ov_points_online: "监测点在线", ov_incidents: "待处理事件", ov_effective: "数据传输有效率",
    ov_effective_day: "昨日", ov_target: "目标", ov_central: "集中污水处理厂（今日）", ov_inflow: "进水",
    ov_outflow: "出水", ov_reuse: "回用", ov_reuse_ratio: "回用率", ov_below: "低于目标", ov_site_plan: "厂区平面图",
    ov_plants: "企业", ov_online: "在线", ov_offline: "有监测点离线", ov_open: "待处理", ov_last_seen: "最后上报",
    ov_as_of: "更新于", ov_not_closed: "未结算", ov_error: "总览加载失败",
    ov_sev_critical: "严重", ov_sev_violation: "超标", ov_sev_warning: "预警", ov_sev_none: "正常",
  },
  en: {
    ov_points_online: "Points online", ov_incidents: "Open incidents", ov_effective: "Effective transmission",
    ov_effective_day: "yesterday", ov_target: "target", ov_central: "Central plant (today)", ov_inflow: "Inflow",
    ov_outflow: "Outflow", ov_reuse: "Reuse", ov_reuse_ratio: "Reuse ratio", ov_below: "below target",
    ov_site_plan: "Site plan", ov_plants: "Plants", ov_online: "online", ov_offline: "a point is offline",
    ov_open: "open", ov_last_seen: "Last seen", ov_as_of: "As of", ov_not_closed: "not closed yet",
    ov_error: "The overview could not load",
    ov_sev_critical: "Critical", ov_sev_violation: "Violation", ov_sev_warning: "Warning", ov_sev_none: "No incident",
  },
};

const REFRESH_MS = 60e3;
const SEVERITIES = ["critical", "violation", "warning", "none"];
const SVG = "http://www.w3.org/2000/svg";
const PLAN = { w: 1000, h: 560 };  // the site plan's drawing units; positions are % of these

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function pct(v) { return v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`; }
function num(v) { return v === null || v === undefined ? "–" : String(Number(v.toPrecision(4))); }

/** Yesterday on the park's calendar, YYYY-MM-DD (the last day compliance may have closed). */
export function parkYesterday(tz, now = Date.now()) {
  return new Date(now - 86400e3).toLocaleDateString("en-CA", { timeZone: tz });
}

function kpiCards(o, kpis, tr) {
  const points = o.plants.reduce((n, p) => n + p.points, 0);
  const online = o.plants.reduce((n, p) => n + p.online, 0);
  const open = o.plants.reduce((n, p) => n + p.open_alerts, 0);
  const worst = SEVERITIES.find((s) => o.plants.some((p) => p.worst_severity === s)) || "none";
  const k = kpis && kpis.period.closed ? kpis.kpi : null;
  const cards = [
    `<div class="ov-kpi ${online < points ? "ov-warn" : ""}" data-kpi="online"><small>${esc(tr("ov_points_online"))}</small><b>${online}/${points}</b></div>`,
    `<div class="ov-kpi ov-sev-${open ? worst : "none"}" data-kpi="incidents"><small>${esc(tr("ov_incidents"))}</small><b>${open}</b></div>`,
    `<div class="ov-kpi ${k && k.warning ? "ov-below" : ""}" data-kpi="effective"><small>${esc(tr("ov_effective"))} · ${esc(tr("ov_effective_day"))}</small>
      <b>${k ? pct(k.effective_rate) : esc(tr("ov_not_closed"))}</b>${k ? `<small>${esc(tr("ov_target"))} ${pct(k.target)}</small>` : ""}</div>`,
  ];
  const c = o.central;
  if (c) {
    const below = c.reuse_ratio !== null && c.reuse_target !== null && c.reuse_ratio < c.reuse_target;
    cards.push(`<div class="ov-kpi ov-central ${below ? "ov-below" : ""}" data-kpi="central"><small>${esc(tr("ov_central"))}</small>
      <span>${esc(tr("ov_inflow"))} <b>${num(c.inflow)}</b> L/s · ${esc(tr("ov_outflow"))} <b>${num(c.outflow)}</b> L/s · ${esc(tr("ov_reuse"))} <b>${num(c.reuse)}</b> L/s</span>
      <span>${esc(tr("ov_reuse_ratio"))} <b class="ov-ratio">${pct(c.reuse_ratio)}</b> (${esc(tr("ov_target"))} ${pct(c.reuse_target)})${below ? ` <em>${esc(tr("ov_below"))}</em>` : ""}</span></div>`);
  }
  return `<div class="ov-kpis">${cards.join("")}</div>`;
}

function tileClass(p) {
  return `ov-sev-${p.worst_severity || "none"}${p.online < p.points ? " ov-offline" : ""}`;
}

function shortLabel(p) {
  const m = /-(\d+)$/.exec(p.plant);
  return m ? m[1] : p.name.slice(0, 4);
}

// The site plan as SVG built with the DOM (attributes, not styles: the CSP allows no inline style).
function sitePlan(o, href, tr) {
  const placed = o.plants.filter((p) => p.position);
  if (!placed.length) return null;
  const el = (name, attrs, parent) => {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  };
  const svg = el("svg", { viewBox: `0 0 ${PLAN.w} ${PLAN.h}`, class: "ov-plan", role: "img", "aria-label": tr("ov_site_plan") });
  el("rect", { x: 1, y: 1, width: PLAN.w - 2, height: PLAN.h - 2, rx: 8, class: "ov-plan-ground" }, svg);
  for (const p of placed) {
    const [x, y] = [p.position[0] * PLAN.w / 100, p.position[1] * PLAN.h / 100];
    const a = el("a", { href: href(p.plant), class: `ov-site ${tileClass(p)}`, "data-plant": p.plant }, svg);
    el("title", {}, a).textContent = `${p.name} · ${tr(`ov_sev_${p.worst_severity || "none"}`)}` +
      (p.online < p.points ? ` · ${tr("ov_offline")}` : "");
    const big = p.kind === "central_plant";
    const [w, h] = big ? [120, 70] : [58, 40];
    el("rect", { x: Math.min(PLAN.w - w, Math.max(0, x - w / 2)), y: Math.min(PLAN.h - h, Math.max(0, y - h / 2)), width: w, height: h, rx: 5 }, a);
    el("text", { x: Math.min(PLAN.w - w / 2, Math.max(w / 2, x)), y: Math.min(PLAN.h - h / 2, Math.max(h / 2, y)) + 6, "text-anchor": "middle" }, a)
      .textContent = big ? p.name.slice(0, 4) : shortLabel(p);
  }
  return svg;
}

function tiles(o, kpis, href, tr, when) {
  const eff = new Map(kpis && kpis.period.closed ? kpis.items.map((i) => [i.id, i.kpi]) : []);
  return o.plants.map((p) => {
    const k = eff.get(p.plant);
    return `<a class="ov-tile ${tileClass(p)}" href="${esc(href(p.plant))}" data-plant="${esc(p.plant)}">
      <b>${esc(p.name)}</b>
      <small>${p.online}/${p.points} ${esc(tr("ov_online"))} · ${esc(tr("ov_open"))} ${p.open_alerts}</small>
      <small>${esc(tr(`ov_sev_${p.worst_severity || "none"}`))}${p.online < p.points ? ` · ${esc(tr("ov_offline"))}` : ""}</small>
      ${k ? `<small class="${k.warning ? "ov-below" : ""}">${esc(tr("ov_effective"))} ${pct(k.effective_rate)}</small>` : ""}
      <small>${esc(when(p.last_seen))}</small></a>`;
  }).join("");
}

function legend(tr) {
  return `<p class="ov-legend">${SEVERITIES.map((s) => `<span class="ov-key ov-sev-${s}">${esc(tr(`ov_sev_${s}`))}</span>`).join("")}
    <span class="ov-key ov-offline">${esc(tr("ov_offline"))}</span></p>`;
}

export function mountParkOverview(el, opts) {
  const lang = opts.lang === "en" ? "en" : "zh";
  const tz = opts.tz || "Asia/Shanghai";
  const tr = (k) => STRINGS[lang][k] ?? (opts.t ? opts.t(k) : k);
  const href = opts.href || ((plant) => `#/parks/${encodeURIComponent(opts.park)}/plants/${encodeURIComponent(plant)}`);
  const clock = new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", { timeZone: tz, hour12: false,
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  const when = (iso) => (iso ? `${tr("ov_last_seen")} ${clock.format(new Date(iso))}` : "–");
  const base = `/api/v1/parks/${encodeURIComponent(opts.park)}`;
  let generation = 0;
  el.classList.add("ov");
  // A plant's name in the language shown (the console's registry names), else the status page's.
  const named = (o) => ({ ...o, plants: o.plants.map((p) => ({ ...p, name: (opts.name && opts.name(p.plant)) || p.name })) });

  async function load() {
    const mine = ++generation;
    el.dataset.state = el.dataset.state === "ready" ? "ready" : "loading";
    try {
      let [o, kpis] = await Promise.all([
        opts.api(`${base}/status`),
        opts.api(`${base}/kpis?day=${parkYesterday(tz)}`).catch(() => null),  // KPIs help; the rest stands without
      ]);
      if (mine !== generation) return;
      o = named(o);
      performance.mark("ov-data");  // where a load's time goes (bench/console.py reads these marks)
      el.innerHTML = `<div class="ov-head"><h2>${esc(opts.title || o.name)}</h2><small>${esc(tr("ov_as_of"))} ${esc(clock.format(new Date(o.as_of)))}</small></div>
        ${kpiCards(o, kpis, tr)}<div class="ov-plan-box"></div>${legend(tr)}
        <h3>${esc(tr("ov_plants"))}</h3><div class="ov-grid">${tiles(o, kpis, href, tr, when)}</div>`;
      const plan = sitePlan(o, href, tr);
      if (plan) el.querySelector(".ov-plan-box").appendChild(plan); else el.querySelector(".ov-plan-box").remove();
      el.dataset.state = "ready";
    } catch (e) {
      if (mine !== generation) return;
      el.innerHTML = `<p class="error">${esc(tr("ov_error"))}: ${esc(e.message)}</p>`;
      el.dataset.state = "error";
    }
  }

  load();
  const timer = setInterval(load, REFRESH_MS);
  return {
    destroy() {
      generation++;
      clearInterval(timer);
      el.innerHTML = "";
      el.classList.remove("ov");
    },
    reload: load,  // e.g. when the event stream reports a plant's change
  };
}
