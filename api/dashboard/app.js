// Outfall dashboard: plain JavaScript, no build step, no third-party code. Chinese by default.
"use strict";

const T = {
  zh: {
    title: "园区废水合规监控", inbox: "告警收件箱", parks: "园区总览", reports: "报表", logout: "退出",
    login: "登录", login_help: "粘贴 `outfall token create` 生成的令牌。", sign_in: "登录", bad_token: "令牌无效、已撤销或已过期",
    switch_title: "切换登录身份？", switch_help: "此链接带有另一个令牌。当前登录：", switch_to: "链接的令牌：",
    switch_yes: "使用链接的令牌", switch_no: "保持当前登录",
    open_alerts: "待处理告警（最新在前）", none: "没有待处理的告警", ack: "确认", note: "备注", resolve: "关闭",
    time: "时间", place: "位置", parameter: "参数", kind: "类型", severity: "级别", value: "值", limit: "限值",
    state: "状态", action: "操作", online: "在线", offline: "离线", last_seen: "最后上报", inflow: "进水",
    outflow: "出水", reuse: "回用", reuse_ratio: "回用率", target: "目标", point: "监测点", flag: "标记",
    ratio: "占限值", valid_rate: "今日有效率", day: "日期", show: "查看", download_csv: "下载 CSV", download_xlsx: "下载 Excel", print: "打印版",
    k_day: "日报", k_month: "月报", k_quarter: "季报",
    quirks: "数采仪报文偏差（已接收，CRC 校验通过）", count: "次数",
    hourly: "小时均值", daily: "日均值", mean: "均值", from: "从", to: "到", alerts: "告警", plant: "企业",
    kinds: { exceedance: "超标", hourly_mean: "小时均值超标", daily_mean: "日均值超标", offline: "离线",
      instrument_fault: "仪器故障", over_range: "超量程", implausible: "数据异常", flatline: "数据恒值",
      rate_of_change: "突变", reuse_ratio: "回用率不达标", mass_balance: "水量不平衡", integrity: "数据不一致",
      zero_value: "零值", negative_value: "负值", near_limit: "贴限排放",
      stopped_running: "标记停产但仍运行" },
    sev: { warning: "预警", violation: "超标", critical: "严重" },
    states: { open: "未确认", acknowledged: "已确认", cleared: "已恢复待关闭", resolved: "已关闭" },
  },
  en: {
    title: "Park wastewater compliance", inbox: "Alert inbox", parks: "Park overview", reports: "Reports",
    logout: "Sign out", login: "Sign in", login_help: "Paste a token made with `outfall token create`.",
    sign_in: "Sign in", bad_token: "unknown, revoked or expired token", open_alerts: "Alerts to work on (newest first)",
    switch_title: "Switch who is signed in?", switch_help: "This link carries another token. Signed in now as:",
    switch_to: "The link's token:", switch_yes: "Use the link's token", switch_no: "Stay signed in as now",
    none: "No alerts to work on", ack: "Acknowledge", note: "Note", resolve: "Close", time: "Time", place: "Where",
    parameter: "Parameter", kind: "Kind", severity: "Severity", value: "Value", limit: "Limit", state: "State",
    action: "Action", online: "online", offline: "offline", last_seen: "Last seen", inflow: "Inflow",
    outflow: "Outflow", reuse: "Reuse", reuse_ratio: "Reuse ratio", target: "target", point: "Point",
    flag: "Flag", ratio: "of limit", valid_rate: "Valid today", day: "Day", show: "Show",
    download_csv: "Download CSV", download_xlsx: "Download Excel", print: "Printable",
    k_day: "Daily", k_month: "Monthly", k_quarter: "Quarterly", hourly: "Hourly means", daily: "Daily means", mean: "Mean",
    from: "From", to: "To", alerts: "Alerts", plant: "Plant",
    quirks: "Logger deviations from HJ 212 (accepted, CRC intact)", count: "Count",
    kinds: {}, sev: {}, states: { cleared: "cleared, to close" },
  },
};
let lang = localStorage.getItem("outfall.lang") || "zh";
let token = localStorage.getItem("outfall.token") || "";
let me = null;
// Every time is shown on the park's local clock (the calendar the standards are judged on), not the
// browser's: an officer travelling, or a server in UTC, must see the same hours as the plant.
let tz = "Asia/Shanghai";
const view = document.getElementById("view");

function t(key) { return T[lang][key] ?? T.zh[key] ?? key; }
function tk(group, key) { return (T[lang][group] || {})[key] || (lang === "zh" ? T.zh[group][key] : null) || key; }
function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function fmt(v, digits = 4) { return v === null || v === undefined ? "–" : (typeof v === "number" ? Number(v.toPrecision(digits)) : v); }
function pct(v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(0) + "%"; }
function when(iso) { return iso ? new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false, timeZone: tz }) : "–"; }
function useParkZone(list) { if (list.length && list[0].timezone) tz = list[0].timezone; }
function translate() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  document.getElementById("lang").textContent = lang === "zh" ? "English" : "中文";
}

async function api(path, opts = {}) {
  const headers = { Authorization: "Bearer " + token, ...(opts.body ? { "Content-Type": "application/json" } : {}) };
  const r = await fetch(path, { ...opts, headers });
  if (r.status === 401) { forget(); showLogin(t("bad_token")); throw new Error("401"); }
  if (!r.ok) { const body = await r.json().catch(() => ({})); throw new Error(body.detail || r.statusText); }
  const type = r.headers.get("content-type") || "";
  if (opts.blob) return r.blob();
  return type.includes("json") ? r.json() : r.text();
}

// --- live stream: SSE over fetch (EventSource cannot send the bearer token) ---------------------------
const listeners = new Set();
let lastEventId = null;
let streamAbort = null;
async function connectStream() {
  if (streamAbort) streamAbort.abort();
  const ctrl = new AbortController();
  streamAbort = ctrl;
  const dot = document.getElementById("live");
  while (!ctrl.signal.aborted) {
    try {
      const headers = { Authorization: "Bearer " + token };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const r = await fetch("/api/v1/events", { headers, signal: ctrl.signal });
      if (r.status === 401) { forget(); showLogin(t("bad_token")); return; }  // revoked or expired
      if (!r.ok) throw new Error(r.statusText);
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          dispatch(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
        }
      }
    } catch (e) {
      if (ctrl.signal.aborted) return;
    }
    dot.classList.remove("on");
    await new Promise((res) => setTimeout(res, 2000));
  }
}
function dispatch(block) {
  let event = "message", data = "", id = null;
  for (const line of block.split("\n")) {
    if (line.startsWith("id: ")) id = line.slice(4);
    else if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (id) lastEventId = id;
  if (event === "ready") document.getElementById("live").classList.add("on");
  if (!data) return;
  const payload = JSON.parse(data);
  listeners.forEach((fn) => fn(event, payload));
}

// --- views ---------------------------------------------------------------------------------------------
function alertRow(a) {
  const where = `${esc(a.plant)} / ${esc(a.point)}`;
  const canAck = me.may_change_alerts && a.state === "open";
  // an alert whose condition is over (cleared by the data) or already acknowledged is closed by an officer
  const canClose = me.may_change_alerts && (a.state === "cleared" || a.state === "acknowledged");
  return `<tr id="alert-${a.id}" class="state-${esc(a.state)}" data-id="${a.id}">
    <td>${when(a.opened_at)}</td><td>${where}</td><td>${esc(a.parameter || "–")}</td>
    <td>${esc(tk("kinds", a.kind))}</td><td><span class="sev-${esc(a.severity)}">${esc(tk("sev", a.severity))}</span></td>
    <td>${fmt(a.peak)} ${esc(a.unit || "")}</td><td>${fmt(a.limit)}</td><td>${esc(tk("states", a.state))}</td>
    <td>${canAck || canClose ? `<input class="note" placeholder="${t("note")}" size="14">` : ""}${canAck ? `<button class="ack">${t("ack")}</button>` : ""}${canClose ? `<button class="resolve">${t("resolve")}</button>` : ""}</td></tr>`;
}

async function inbox() {
  view.innerHTML = `<div class="card"><h2>${t("open_alerts")}</h2><table id="inbox"><thead><tr>
    <th>${t("time")}</th><th>${t("place")}</th><th>${t("parameter")}</th><th>${t("kind")}</th><th>${t("severity")}</th>
    <th>${t("value")}</th><th>${t("limit")}</th><th>${t("state")}</th><th>${t("action")}</th></tr></thead><tbody></tbody></table>
    <p id="inbox-empty">${t("none")}</p></div>`;
  const body = view.querySelector("#inbox tbody");
  const rows = new Map();
  const render = () => {
    const sorted = [...rows.values()].sort((a, b) => b.id - a.id);
    body.innerHTML = sorted.map(alertRow).join("");
    view.querySelector("#inbox-empty").hidden = sorted.length > 0;
  };
  const alerts = await api("/api/v1/alerts?state=open&state=acknowledged&state=cleared&limit=500");
  alerts.forEach((a) => rows.set(a.id, a));
  render();
  body.addEventListener("click", async (ev) => {
    const action = ev.target.classList.contains("ack") ? "ack" : ev.target.classList.contains("resolve") ? "resolve" : null;
    if (!action) return;
    const tr = ev.target.closest("tr");
    const note = tr.querySelector(".note").value || null;
    ev.target.disabled = true;
    const updated = await api(`/api/v1/alerts/${tr.dataset.id}/${action}`, { method: "POST", body: JSON.stringify({ note }) });
    if (updated.state === "resolved") rows.delete(updated.id); else rows.set(updated.id, updated);
    render();
  });
  return (event, data) => {
    if (event !== "alert") return;
    const a = data.alert;
    if (a.state === "resolved") rows.delete(a.id); else rows.set(a.id, a);
    render();
    const tr = document.getElementById("alert-" + a.id);
    if (tr) tr.classList.add("new");
  };
}

async function parks() {
  const list = await api("/api/v1/parks");
  useParkZone(list);
  if (list.length === 1) { location.hash = "#/park/" + list[0].id; return null; }
  view.innerHTML = `<div class="card"><h2>${t("parks")}</h2>` +
    list.map((p) => `<p><a href="#/park/${esc(p.id)}">${esc(p.name)}</a> (${p.plants})</p>`).join("") + "</div>";
  return null;
}

async function park(id) {
  const draw = async () => {
    const o = await api(`/api/v1/parks/${encodeURIComponent(id)}/status`);
    const c = o.central;
    const central = c ? `<p>${t("inflow")} ${fmt(c.inflow)} L/s · ${t("outflow")} ${fmt(c.outflow)} L/s · ${t("reuse")} ${fmt(c.reuse)} L/s ·
      <b>${t("reuse_ratio")} ${pct(c.reuse_ratio)}</b> (${t("target")} ${pct(c.reuse_target)})</p>` : "";
    view.innerHTML = `<div class="card"><h2>${esc(o.name)}</h2>${central}<div class="grid">` + o.plants.map((p) =>
      `<div class="tile sev-${esc(p.worst_severity || "none")} ${p.online < p.points ? "offline" : ""}" data-plant="${esc(p.plant)}">
        <b>${esc(p.name)}</b><small>${p.online}/${p.points} ${t("online")} · ${t("alerts")} ${p.open_alerts}</small>
        <small>${when(p.last_seen)}</small></div>`).join("") + `</div></div><div id="plant"></div>`;
    view.querySelectorAll(".tile").forEach((el) => el.addEventListener("click", () => plant(id, el.dataset.plant)));
  };
  await draw();
  let pending = null;
  return (event) => { if (event === "plant" && !pending) pending = setTimeout(() => { pending = null; draw(); }, 500); };
}

async function plant(parkId, plantId) {
  const s = await api(`/api/v1/parks/${encodeURIComponent(parkId)}/plants/${encodeURIComponent(plantId)}/status`);
  const rows = s.points.map((p) => p.parameters.map((q, i) => `<tr>
    ${i === 0 ? `<td rowspan="${p.parameters.length}"><a href="#/point/${esc(parkId)}/${esc(plantId)}/${esc(p.point)}">${esc(p.name)}</a><br>
      ${p.online ? t("online") : `<b>${t("offline")}</b>`} · ${when(p.last_seen)}</td>` : ""}
    <td>${esc(q.parameter)}</td><td class="lvl-${esc(q.level)}">${fmt(q.value)} ${esc(q.unit)}</td><td>${esc(q.flag || "–")}</td>
    <td>${fmt(q.limit_upper)}</td><td>${pct(q.ratio)}</td><td>${pct(q.valid_rate_today)}</td></tr>`).join("")).join("");
  document.getElementById("plant").innerHTML = `<div class="card"><h3>${esc(s.name)} · ${t("valid_rate")} ${pct(s.valid_rate_today)}</h3>
    <table><thead><tr><th>${t("point")}</th><th>${t("parameter")}</th><th>${t("value")}</th><th>${t("flag")}</th>
    <th>${t("limit")}</th><th>${t("ratio")}</th><th>${t("valid_rate")}</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

async function point(parkId, plantId, pointId) {
  const base = `/api/v1/parks/${encodeURIComponent(parkId)}/plants/${encodeURIComponent(plantId)}/points/${encodeURIComponent(pointId)}`;
  const info = await api(base);
  const to = new Date(), from = new Date(to - 24 * 3600e3);
  const range = `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
  const quirks = (info.logger_quirks || []).map((q) => `<tr><td>${esc(q.description)}</td><td>${esc(String(q.count))}</td>
    <td>${when(q.last_seen)}</td></tr>`).join("");
  const quirkCard = quirks ? `<div class="card"><h3>${t("quirks")}</h3><table><tr><th>${t("kind")}</th><th>${t("count")}</th>
    <th>${t("last_seen")}</th></tr>${quirks}</table></div>` : "";
  view.innerHTML = `<div class="card"><h2>${esc(info.name)} (${esc(plantId)} / ${esc(pointId)})</h2></div>` + quirkCard +
    info.parameters.map((p) => `<div class="card"><div id="chart-${esc(p.code)}"></div>
      <details><summary>${t("hourly")} / ${t("daily")}</summary><div id="means-${esc(p.code)}"></div></details></div>`).join("");
  for (const p of info.parameters) {
    api(`${base}/chart.svg?parameter=${p.code}&${range}&lang=${lang}`).then((svg) => {
      document.getElementById("chart-" + p.code).innerHTML = svg;  // our own server-side SVG, text escaped there
    });
    Promise.all([api(`${base}/readings?parameter=${p.code}&${range}&bucket=1h`),
      api(`${base}/readings?parameter=${p.code}&bucket=1d&from=${encodeURIComponent(new Date(to - 7 * 86400e3).toISOString())}`)])
      .then(([h, d]) => {
        const table = (page) => `<table><tr><th>${t("time")}</th><th>${t("mean")}</th><th>n</th></tr>` +
          page.items.map((m) => `<tr><td>${when(m.time)}</td><td>${fmt(m.mean)}</td><td>${m.valid}/${m.total}</td></tr>`).join("") + "</table>";
        document.getElementById("means-" + p.code).innerHTML = `<h4>${t("daily")}</h4>${table(d)}<h4>${t("hourly")}</h4>${table(h)}`;
      });
  }
  return null;
}

async function reportsView() {
  const list = await api("/api/v1/parks");
  useParkZone(list);
  // yesterday on the park's calendar (en-CA formats dates as YYYY-MM-DD)
  const yesterday = new Date(Date.now() - 86400e3).toLocaleDateString("en-CA", { timeZone: tz });
  const [y, m] = yesterday.split("-");
  const initial = { day: yesterday, month: `${y}-${m}`, quarter: `${y}-Q${Math.ceil(Number(m) / 3)}` };
  view.innerHTML = `<div class="card"><h2>${t("reports")}</h2>
    <select id="r-park">${list.map((p) => `<option value="${esc(p.id)}">${esc(p.name)}</option>`).join("")}</select>
    <select id="r-kind">${["day", "month", "quarter"].map((k) => `<option value="${k}">${t("k_" + k)}</option>`).join("")}</select>
    <input id="r-day" type="date" value="${yesterday}"> <button id="r-show">${t("show")}</button>
    <button id="r-csv">${t("download_csv")}</button> <button id="r-xlsx">${t("download_xlsx")}</button>
    <button id="r-print">${t("print")}</button></div><iframe id="r-frame" title="report" sandbox="allow-same-origin allow-modals"></iframe>`;
  const kind = view.querySelector("#r-kind"), when = view.querySelector("#r-day");
  kind.onchange = () => {
    when.type = { day: "date", month: "month", quarter: "text" }[kind.value];
    when.value = initial[kind.value];
  };
  // the API's paths: reports/{YYYY-MM-DD}, reports/month/{YYYY-MM}, reports/quarter/{YYYY-Qn}
  const path = () => (kind.value === "day" ? "" : kind.value + "/") + encodeURIComponent(when.value);
  const url = (f) => `/api/v1/parks/${encodeURIComponent(view.querySelector("#r-park").value)}/reports/${path()}?format=${f}`;
  const show = async () => { view.querySelector("#r-frame").srcdoc = await api(url("html")); };
  const save = (blob, ext) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `report-${when.value}.${ext}`;
    a.click();
  };
  view.querySelector("#r-show").onclick = show;
  view.querySelector("#r-print").onclick = () => view.querySelector("#r-frame").contentWindow.print();
  view.querySelector("#r-csv").onclick = async () => save(new Blob([await api(url("csv"))], { type: "text/csv" }), "csv");
  view.querySelector("#r-xlsx").onclick = async () => save(await api(url("xlsx"), { blob: true }), "xlsx");
  await show();
  return null;
}

// --- routing and sign-in -------------------------------------------------------------------------------
// Each screen claims the view; a view still loading when another screen took over drops its result.
let viewClaim = 0;
function claimView() { listeners.clear(); return ++viewClaim; }

async function route() {
  const claim = claimView();
  const [, name, ...args] = (location.hash || "#/inbox").split("/");
  const views = { inbox, parks, park, point, reports: reportsView };
  try {
    const listener = await (views[name] || inbox)(...args.map(decodeURIComponent));
    if (listener && claim === viewClaim) listeners.add(listener);
  } catch (e) {
    if (e.message !== "401" && claim === viewClaim) view.innerHTML = `<p class="error">${esc(e.message)}</p>`;
  }
}

function showLogin(message) {
  claimView();
  if (streamAbort) streamAbort.abort();
  view.innerHTML = document.getElementById("login").innerHTML;
  translate();
  view.querySelector("#login-error").textContent = message || "";
  view.querySelector("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    remember(view.querySelector("#token").value.trim());
    start();
  });
}

function remember(value) { token = value; localStorage.setItem("outfall.token", value); }
function forget() { token = ""; me = null; localStorage.removeItem("outfall.token"); }

// `outfall run` prints a link with its session token in the fragment (never sent to a server). The
// fragment is dropped from the address bar at once; a link whose token differs from the one signed in
// asks first, so a link cannot silently swap who is signed in.
async function takeLinkToken() {
  const link = location.hash.match(/token=([A-Za-z0-9_.-]+)/);
  if (!link) return true;
  history.replaceState(null, "", location.pathname);
  if (!token || token === link[1]) { remember(link[1]); return true; }
  askToSwitch(link[1]);
  return false;
}

function askToSwitch(offered) {
  claimView();
  if (streamAbort) streamAbort.abort();
  view.innerHTML = document.getElementById("switch").innerHTML;
  translate();
  const who = async (value, el) => {
    const r = await fetch("/api/v1/me", { headers: { Authorization: "Bearer " + value } }).catch(() => null);
    const m = r && r.ok ? await r.json() : null;
    view.querySelector(el).textContent = m ? `${m.name} (${m.role}${m.park ? " · " + m.park : ""})` : t("bad_token");
  };
  who(token, "#switch-current");
  who(offered, "#switch-offered");
  view.querySelector("#switch-yes").addEventListener("click", () => { remember(offered); start(); });
  view.querySelector("#switch-no").addEventListener("click", () => { start(); });
}

async function start() {
  translate();
  if (!(await takeLinkToken())) return;
  if (!token) { showLogin(); return; }
  try { me = await api("/api/v1/me"); useParkZone(await api("/api/v1/parks")); } catch (e) { return; }
  document.getElementById("who").textContent = `${me.name} (${me.role}${me.park ? " · " + me.park : ""}${me.plant ? "/" + me.plant : ""})`;
  connectStream();
  await route();
}

document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("outfall.lang", lang);
  translate();
  if (me) route();
});
document.getElementById("logout").addEventListener("click", () => {
  forget();
  showLogin();
});
// A #token= link opened in a tab already on the dashboard (signed in or on the sign-in page) changes
// only the fragment, with no reload: the link is taken here.
window.addEventListener("hashchange", () => {
  if (/token=/.test(location.hash)) start(); else if (me) route();
});
start();
