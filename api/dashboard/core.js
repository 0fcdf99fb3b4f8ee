// What every page shares: the signed-in token and caller, the authenticated fetch, escaping and
// formatting on the park's clock, and the names of plants, points and parameters.
import { lang, t, word } from "./i18n.js";

export const session = {
  token: localStorage.getItem("outfall.token") || "",
  me: null,
  // Every time is shown on the park's local clock (the calendar the standards are judged on), not the
  // browser's: an officer travelling, or a server in UTC, must see the same hours as the plant.
  tz: "Asia/Shanghai",
  parks: [],
  onUnauthorized: () => {},
};

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(path, opts = {}) {
  const headers = { Authorization: "Bearer " + session.token, ...(opts.body ? { "Content-Type": "application/json" } : {}) };
  const r = await fetch(path, { ...opts, headers });
  if (r.status === 401) { session.onUnauthorized(); throw new ApiError(401, "401"); }
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    const detail = typeof body.detail === "string" ? body.detail : r.statusText;
    throw new ApiError(r.status, detail);
  }
  const type = r.headers.get("content-type") || "";
  if (opts.blob) return { blob: await r.blob(), headers: r.headers };
  return type.includes("json") ? r.json() : r.text();
}

export function post(path, body) { return api(path, { method: "POST", body: JSON.stringify(body ?? {}) }); }

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
export function fmt(v, digits = 4) {
  return v === null || v === undefined ? "–" : (typeof v === "number" ? String(Number(v.toPrecision(digits))) : String(v));
}
export function pct(v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%"; }
export function when(iso) {
  return iso ? new Date(iso).toLocaleString(lang() === "zh" ? "zh-CN" : "en-GB", { hour12: false, timeZone: session.tz }) : "–";
}
/** A park-local calendar day as YYYY-MM-DD (en-CA formats dates so). */
export function localDay(date) { return date.toLocaleDateString("en-CA", { timeZone: session.tz }); }
/** datetime-local input value (park-local) <-> ISO instant. */
export function toLocalInput(date) {
  const p = new Intl.DateTimeFormat("en-CA", { timeZone: session.tz, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hour12: false }).formatToParts(date).reduce((o, x) => ({ ...o, [x.type]: x.value }), {});
  return `${p.year}-${p.month}-${p.day}T${p.hour === "24" ? "00" : p.hour}:${p.minute}`;
}
export function fromLocalInput(value) {
  if (!value) return null;
  const guess = new Date(value + "Z");  // as if UTC, then shift by the zone's offset at that instant
  const shown = new Date(toLocalInput(guess) + "Z");
  return new Date(guess.getTime() - (shown.getTime() - guess.getTime()));
}
export function enc(s) { return encodeURIComponent(s); }

/** A value with its unit; pH has none ("pH 7.2"), and ratios to limits are not shown for it. */
export function withUnit(v, unit) {
  if (unit === "pH") return `${fmt(v)}`;
  return `${fmt(v)}${unit ? " " + esc(unit) : ""}`;
}
/** A limit as read: "≤ 0.5 mg/L", pH as its band "6–9". */
export function limitText(upper, lower, unit) {
  if (upper === null || upper === undefined) return lower === null || lower === undefined ? "–" : `≥ ${fmt(lower)}`;
  if (lower !== null && lower !== undefined) return `${fmt(lower)}–${fmt(upper)}${unit && unit !== "pH" ? " " + esc(unit) : ""}`;
  return `≤ ${withUnit(upper, unit)}`;
}

// --- names -----------------------------------------------------------------------------------------------
const names = new Map();  // park -> { plants: Map, points: Map, parameters: Map }
const asked = new Map();  // park -> the request under way (the shell and a page may ask at once)

export async function loadNames(park) {
  if (names.has(park)) return names.get(park);
  if (!asked.has(park)) asked.set(park, fetchNames(park).finally(() => asked.delete(park)));
  return asked.get(park);
}
async function fetchNames(park) {
  const n = await api(`/api/v1/parks/${enc(park)}/names`);
  const entry = {
    park: { name: n.name, name_zh: n.name_zh, name_en: n.name_en },
    plants: new Map(n.plants.map((p) => [p.id, p])),
    points: new Map(n.points.map((p) => [`${p.plant}/${p.id}`, p])),
    parameters: new Map(n.parameters.map((p) => [p.code, p])),
  };
  names.set(park, entry);
  return entry;
}
export function forgetNames() { names.clear(); asked.clear(); }
function entry(park) { return names.get(park); }
/** A registered name in the language shown: `电镀一厂 (Plating One)` is read as its two parts (the
 *  API gives them as name_zh and name_en). */
export function named(n, fallback) {
  if (!n) return fallback;
  return (lang() === "zh" ? n.name_zh || n.name_en : n.name_en || n.name_zh) || n.name || fallback;
}
export function plantName(park, plant) { return named(entry(park)?.plants.get(plant), plant); }
/** A point registered without a name (the park file's `name` left out: its name is its code) is read
 *  by its kind in the language shown, its code beside: `总排口 (total)`, `total outlet (total)`. */
export function pointName(park, plant, point) {
  const n = entry(park)?.points.get(`${plant}/${point}`);
  if (n && n.kind && (!n.name || n.name === n.id)) return `${word("pkind", n.kind)} (${point})`;
  return named(n, point);
}
/** Whether the point has a name of its own (else pointName is its kind's word). */
export function pointNamed(park, plant, point) {
  const n = entry(park)?.points.get(`${plant}/${point}`);
  return Boolean(n && n.name && n.name !== n.id);
}
export function paramName(park, code) {
  if (!code) return t("none_short");
  const p = entry(park)?.parameters.get(code);
  return p ? (lang() === "zh" ? p.name_zh : p.name_en) : code;
}
/** The park's name in the language shown (`示范电镀园区 (Demo Electroplating Park)` read as its two parts). */
export function parkName(park) { return named(entry(park)?.park, park); }
/** All catalogue parameters of a park's names (for filters). */
export function parameterList(park) { return [...(entry(park)?.parameters.values() || [])]; }
export function plantList(park) { return [...(entry(park)?.plants.values() || [])]; }
export function pointList(park, plant) { return [...(entry(park)?.points.values() || [])].filter((p) => p.plant === plant); }

/** Download a response of an authenticated GET as a file. */
export async function download(path, fallbackName) {
  const { blob, headers } = await api(path, { blob: true });
  const cd = headers.get("content-disposition") || "";
  const m = cd.match(/filename="?([^";]+)"?/);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = m ? m[1] : fallbackName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  return headers;
}

/** Parse "#/a/b?x=1&x=2" into { parts: ["a","b"], query: URLSearchParams }. */
export function parseHash(hash) {
  const raw = (hash || "").replace(/^#\/?/, "");
  const [path, q] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q || "") };
}
