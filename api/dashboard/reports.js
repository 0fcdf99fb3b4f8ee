// Reports: daily, monthly and quarterly, of the whole park or one plant, shown in the page and
// downloadable as CSV or Excel. Opens on the last complete period on the park's calendar.
import { lang, t } from "./i18n.js";
import { api, download, enc, esc, loadNames, localDay, named, plantList, plantName, session } from "./core.js";

/** The last complete day, month and quarter on the park's calendar. */
export function lastComplete(now = new Date()) {
  const today = localDay(now);
  const day = localDay(new Date(now.getTime() - 86400e3));
  let [y, m] = today.split("-").map(Number);
  const month = m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, "0")}`;
  let q = Math.floor((m - 1) / 3);  // the current quarter's index 0..3; the last complete is the one before
  if (q === 0) { y -= 1; q = 4; }
  return { day, month, quarter: `${y}-Q${q}` };
}

function reportPath(park, plant, kind, period, format) {
  const scope = `/api/v1/parks/${enc(park)}` + (plant ? `/plants/${enc(plant)}` : "");
  const part = kind === "day" ? enc(period) : `${kind}/${enc(period)}`;
  // the page is in the console's language (names, words); the files keep their bilingual headers
  return `${scope}/reports/${part}?format=${format}${format === "html" ? `&lang=${lang()}` : ""}`;
}

const INPUT = { day: ["date", "\\d{4}-\\d{2}-\\d{2}"], month: ["month", "\\d{4}-\\d{2}"], quarter: ["text", "\\d{4}-Q[1-4]"] };

export async function reportsPage(view, query) {
  const park = query.get("park") || session.parks[0]?.id;
  await loadNames(park);
  const kind = ["day", "month", "quarter"].includes(query.get("kind")) ? query.get("kind") : "day";
  const period = query.get("period") || lastComplete()[kind];
  const plant = query.get("plant") || "";
  const [type, pattern] = INPUT[kind];
  view.innerHTML = `<section class="card"><h2>${t("reports")}</h2><p class="help">${t("report_help")}</p>
    <form id="report-form" class="filters">
    <label>${t("park")}<select name="park">${session.parks.map((p) => `<option value="${esc(p.id)}"${p.id === park ? " selected" : ""}>${esc(named(p, p.id))}</option>`).join("")}</select></label>
    <label>${t("plant")}<select name="plant"><option value="">${esc(t("whole_park"))}</option>${plantList(park).map((p) =>
      `<option value="${esc(p.id)}"${p.id === plant ? " selected" : ""}>${esc(plantName(park, p.id))}</option>`).join("")}</select></label>
    <label>${t("range")}<select name="kind">${["day", "month", "quarter"].map((k) =>
      `<option value="${k}"${k === kind ? " selected" : ""}>${esc(t({ day: "daily_report", month: "monthly_report", quarter: "quarterly_report" }[k]))}</option>`).join("")}</select></label>
    <label>${t(kind)}<input name="period" type="${type}" pattern="${pattern}" value="${esc(period)}" required></label>
    <button type="submit">${t("show")}</button>
    <button type="button" id="r-csv">${t("download_csv")}</button> <button type="button" id="r-xlsx">${t("download_xlsx")}</button>
    <button type="button" id="r-print">${t("print")}</button></form><p class="error" id="r-error"></p></section>
    <iframe id="r-frame" title="${esc(t("reports"))}" sandbox="allow-same-origin allow-modals"></iframe>`;
  const form = view.querySelector("#report-form");
  const error = view.querySelector("#r-error");
  form.elements.kind.addEventListener("change", () => {
    const q = new URLSearchParams({ park: form.elements.park.value, kind: form.elements.kind.value });
    if (form.elements.plant.value) q.set("plant", form.elements.plant.value);
    location.hash = "#/reports?" + q.toString();
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams({ park: form.elements.park.value, kind, period: form.elements.period.value });
    if (form.elements.plant.value && form.elements.park.value === park) q.set("plant", form.elements.plant.value);
    location.hash = "#/reports?" + q.toString();
  });
  const path = (format) => reportPath(park, plant, kind, period, format);
  const fail = (e) => { error.textContent = e.message; };
  view.querySelector("#r-print").onclick = () => view.querySelector("#r-frame").contentWindow.print();
  view.querySelector("#r-csv").onclick = () => download(path("csv"), `report-${period}.csv`).catch(fail);
  view.querySelector("#r-xlsx").onclick = () => download(path("xlsx"), `report-${period}.xlsx`).catch(fail);
  try {
    view.querySelector("#r-frame").srcdoc = await api(path("html"));
  } catch (e) {
    if (e.status === 401) throw e;
    fail(e);
  }
  return null;
}
