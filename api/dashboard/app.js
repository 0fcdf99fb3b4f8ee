// Outfall dashboard: the shell. Plain JavaScript ES modules, no build step; Chinese by default.
// Routes (each page has its own URL):
//   #/incidents[?park&plant&kind&severity&state&from&to]   the queue      #/incidents/ID  one incident
//   #/parks  #/parks/P (overview)  #/parks/P/plants/X (plant file)  #/parks/P/plants/X/points/Y[?range=30d]
//   #/marks[?park&plant&status]   #/reports[?park&plant&kind&period]
import { lang, merge, missing, setLang, t, translateDom, word } from "./i18n.js";
import { api, enc, esc, forgetNames, loadNames, named, parkName, parseHash, pct, plantName, session, when } from "./core.js";
import { detail, queue } from "./incidents.js";
import { plantPage, pointPage } from "./plant.js";
import { marksPage } from "./marks.js";
import { reportsPage } from "./reports.js";
import { preload } from "./graph.js";

window.outfallMissing = missing;  // the browser tests read it: every key shown must exist in zh and en
setLang(localStorage.getItem("outfall.lang") || "zh");
const view = document.getElementById("view");

function translate() {
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  document.title = `Outfall · ${t("title")}`;
  translateDom(document);
}
function useParkZone(list) { session.parks = list; if (list.length && list[0].timezone) session.tz = list[0].timezone; }

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
      const headers = { Authorization: "Bearer " + session.token };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const r = await fetch("/api/v1/events", { headers, signal: ctrl.signal });
      if (r.status === 401) { signOut(t("bad_token")); return; }  // revoked or expired
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
  listeners.forEach((fn) => { try { fn(event, payload); } catch (e) { /* a page's redraw failing must not stop the stream */ } });
}

// --- parks -----------------------------------------------------------------------------------------------
async function parksPage(view) {
  if (session.parks.length === 1) { location.replace("#/parks/" + enc(session.parks[0].id)); return null; }
  view.innerHTML = `<section class="card"><h2>${t("parks")}</h2><ul>` + session.parks.map((p) =>
    `<li><a href="#/parks/${enc(p.id)}">${esc(named(p, p.id))}</a> (${p.plants} ${t("plants")})</li>`).join("") + "</ul></section>";
  return null;
}

let overviewModule;
async function overviewJs() {
  if (overviewModule === undefined) {
    overviewModule = await import("./overview.js").catch(() => null);
    if (overviewModule) merge(overviewModule.STRINGS);
  }
  return overviewModule;
}

async function parkPage(view, park) {
  await loadNames(park);
  const mod = await overviewJs();
  if (mod && mod.mountParkOverview) {
    view.innerHTML = `<div id="overview"></div>`;
    const handle = mod.mountParkOverview(view.querySelector("#overview"), {
      api, park, lang: lang(), tz: session.tz, t, href: (plant) => `#/parks/${enc(park)}/plants/${enc(plant)}`,
      name: (plant) => plantName(park, plant), title: parkName(park),
    });
    cleanups.push(() => handle && handle.destroy && handle.destroy());
    return null;
  }
  return tiles(view, park);
}

/** The overview without the overview module: a tile per plant, coloured by its worst open incident. */
async function tiles(view, park) {
  const draw = async () => {
    const o = await api(`/api/v1/parks/${enc(park)}/status`);
    const c = o.central;
    const below = c && c.reuse_ratio !== null && c.reuse_target !== null && c.reuse_ratio < c.reuse_target;
    const central = c ? `<p class="${below ? "below" : ""}">${t("inflow")} ${c.inflow ?? "–"} L/s · ${t("outflow")} ${c.outflow ?? "–"} L/s ·
      ${t("reuse")} ${c.reuse ?? "–"} L/s · <b>${t("reuse_ratio")} ${pct(c.reuse_ratio)}</b> (${t("target")} ${pct(c.reuse_target)})</p>` : "";
    view.innerHTML = `<section class="card"><h2>${esc(parkName(park))}</h2>${central}<div class="grid">` + o.plants.map((p) =>
      `<a class="tile sev-${esc(p.worst_severity || "none")} ${p.online < p.points ? "offline" : ""}" href="#/parks/${enc(park)}/plants/${enc(p.plant)}">
        <b>${esc(plantName(park, p.plant))}</b><small>${p.online}/${p.points} ${t("online")} · ${t("open_incidents")} ${p.open_alerts}</small>
        <small>${p.worst_severity ? esc(word("sev", p.worst_severity)) : ""} ${when(p.last_seen)}</small></a>`).join("") + `</div></section>`;
  };
  await draw();
  let pending = null;
  return (event) => { if (event === "plant" && !pending) pending = setTimeout(() => { pending = null; draw(); }, 1000); };
}

// --- routing ---------------------------------------------------------------------------------------------
// Each screen claims the view; a screen still loading when another took over drops its result.
let viewClaim = 0;
const cleanups = [];
function claimView() {
  listeners.clear();
  while (cleanups.length) { try { cleanups.pop()(); } catch (e) { /* already gone */ } }
  return ++viewClaim;
}

function pick(parts, query, view) {
  const [name, a, b, c, d, e] = parts;
  if (name === "incidents" && a) return () => detail(view, a);
  if (name === "parks" && a && b === "plants" && c && d === "points" && e) return () => pointPage(view, a, c, e, query);
  if (name === "parks" && a && b === "plants" && c) return () => plantPage(view, a, c);
  if (name === "parks" && a) return () => parkPage(view, a);
  if (name === "parks") return () => parksPage(view);
  if (name === "marks") return () => marksPage(view, query);
  if (name === "reports") return () => reportsPage(view, query);
  // links of earlier versions
  if (name === "park" && a) return () => parkPage(view, a);
  if (name === "point" && c) return () => pointPage(view, a, b, c);
  return () => queue(view, query);
}

async function route() {
  const claim = claimView();
  const { parts, query } = parseHash(location.hash);
  const section = parts[0] === "park" || parts[0] === "point" ? "parks" : parts[0] || "incidents";
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("here", a.dataset.section === section));
  // Each screen draws into its own element: one still loading when another took over (a link opened
  // while the first page loads) draws into an element no longer shown, not over the new screen.
  const screen = document.createElement("div");
  screen.innerHTML = `<p class="loading">${t("loading")}</p>`;
  view.replaceChildren(screen);
  view.dataset.ready = "";
  try {
    const listener = await pick(parts, query, screen)();
    if (listener && claim === viewClaim) listeners.add(listener);
    if (claim === viewClaim) view.dataset.ready = location.hash || "#/incidents";  // drawn (the tests wait for it)
  } catch (e) {
    if (e.status !== 401 && claim === viewClaim) {
      screen.innerHTML = `<section class="card"><h2>${e.status === 404 ? t("not_found") : t("error")}</h2><p class="error">${esc(e.message)}</p></section>`;
      view.dataset.ready = "error";
    }
  }
}

// --- sign-in ---------------------------------------------------------------------------------------------
function remember(value) { session.token = value; localStorage.setItem("outfall.token", value); }
function forget() { session.token = ""; session.me = null; forgetNames(); localStorage.removeItem("outfall.token"); }

/** Who a token is: its name, role and scope. */
function who_(m) {
  const scope = m.park ? ` · ${named(session.parks.find((p) => p.id === m.park), m.park)}${m.plant ? " / " + m.plant : ""}` : "";
  return `${m.name} (${word("role", m.role)}${scope})`;
}

function signOut(message) {
  forget();
  showLogin(message);
}
session.onUnauthorized = () => signOut(t("bad_token"));

function showLogin(message) {
  claimView();
  if (streamAbort) streamAbort.abort();
  document.body.classList.add("signed-out");
  document.getElementById("who").textContent = "";
  view.innerHTML = document.getElementById("login").innerHTML;
  translate();
  view.querySelector("#login-error").textContent = message || "";
  view.querySelector("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    remember(view.querySelector("#token").value.trim());
    start();
  });
}

// `outfall run` prints a link with its session token in the fragment (never sent to a server). The
// fragment is dropped from the address bar at once; a link whose token differs from the one signed in
// asks first, so a link cannot silently swap who is signed in.
function takeLinkToken() {
  const link = location.hash.match(/token=([A-Za-z0-9_.-]+)/);
  if (!link) return true;
  history.replaceState(null, "", location.pathname + "#/incidents");
  if (!session.token || session.token === link[1]) { remember(link[1]); return true; }
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
    view.querySelector(el).textContent = m ? who_(m) : t("bad_token");
  };
  who(session.token, "#switch-current");
  who(offered, "#switch-offered");
  view.querySelector("#switch-yes").addEventListener("click", () => { remember(offered); start(); });
  view.querySelector("#switch-no").addEventListener("click", () => { start(); });
}

async function start() {
  translate();
  if (!takeLinkToken()) return;
  if (!session.token) { showLogin(); return; }
  try {
    // at once: who this is, the parks, and the chart and overview modules (their words merged before any
    // page is drawn); a scoped token's park names are asked for meanwhile (most pages show them)
    const me = api("/api/v1/me");
    me.then((m) => m.park && loadNames(m.park)).catch(() => null);
    const [who, parks] = await Promise.all([me, api("/api/v1/parks"), preload(), overviewJs()]);
    session.me = who;
    useParkZone(parks);
  } catch (e) { return; }
  document.body.classList.remove("signed-out");
  const me = session.me;
  document.getElementById("who").textContent = who_(me);
  connectStream();
  await route();
}

document.getElementById("lang").addEventListener("click", () => {
  setLang(lang() === "zh" ? "en" : "zh");
  localStorage.setItem("outfall.lang", lang());
  translate();
  if (session.me) route(); else if (document.getElementById("login-form")) showLogin();
});
document.getElementById("logout").addEventListener("click", () => signOut(t("signed_out")));
// A #token= link opened in a tab already on the dashboard (signed in or on the sign-in page) changes
// only the fragment, with no reload: the link is taken here.
window.addEventListener("hashchange", () => {
  if (/token=/.test(location.hash)) start(); else if (session.me) route();
});
// Signing out (or in) in another tab of this browser does so here too.
window.addEventListener("storage", (ev) => {
  if (ev.key !== "outfall.token") return;
  if (!ev.newValue) signOut(t("signed_out"));
  else if (ev.newValue !== session.token) { session.token = ev.newValue; forgetNames(); start(); }
});
start();
