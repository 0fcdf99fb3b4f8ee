// Data marks: a plant's operator declares one (a point or the whole plant, a code from the catalogue,
// a period and a note); an officer reviews the pending ones (accept or reject, with a note).
import { lang, t, word } from "./i18n.js";
import {
  api, esc, fromLocalInput, loadNames, plantList, plantName, pointList, pointName, post, session,
  toLocalInput, when,
} from "./core.js";

let codes = null;
export async function markCodes() {
  if (!codes) codes = new Map((await api("/api/v1/marks/codes")).map((c) => [c.code, c]));
  return codes;
}
function codeName(code) {
  const c = codes && codes.get(code);
  return c ? (lang() === "zh" ? c.name_zh : c.name_en) : code;
}

function markRow(m) {
  const officer = session.me.may_change_alerts;
  const plantSide = session.me.may_declare_maintenance && m.status !== "withdrawn" && !m.locked_at;
  // an officer reviews a pending mark, and may still overrule one that took effect at once
  const review = officer && (m.status === "pending" || (m.status === "approved" && !m.decided_by));
  return `<tr id="mark-${m.id}" data-id="${m.id}" class="mark-${esc(m.status)}">
    <td data-label="${esc(t("place"))}">${esc(plantName(m.park, m.plant))} / ${m.point ? esc(pointName(m.park, m.plant, m.point)) : esc(t("whole_plant"))}</td>
    <td data-label="${esc(t("code"))}">${esc(codeName(m.code))} <small>(${esc(m.code)} · ${esc(word("mgroup", m.group))})</small></td>
    <td data-label="${esc(t("from"))}">${when(m.from)}</td><td data-label="${esc(t("to"))}">${when(m.to)}</td>
    <td data-label="${esc(t("reason"))}">${esc(m.note)}</td>
    <td data-label="${esc(t("declared_by"))}">${esc(m.created_by)}</td>
    <td data-label="${esc(t("state"))}">${esc(word("mstatus", m.status))}${m.decided_by ? ` · ${esc(m.decided_by)}` : ""}${m.decision_note ? `: ${esc(m.decision_note)}` : ""}</td>
    <td class="actions">${review || plantSide ? `<input class="note" placeholder="${esc(t("note_placeholder"))}" aria-label="${esc(t("note"))}">` : ""}
    ${review ? `<button class="accept">${t("accept")}</button><button class="reject">${t("reject")}</button>` : ""}
    ${plantSide ? `<button class="withdraw">${t("withdraw")}</button>` : ""}</td></tr>`;
}

export function marksTable(list) {
  if (!list.length) return `<p>${t("no_marks")}</p>`;
  return `<div class="table-wrap"><table class="marks-table stack"><thead><tr><th>${t("place")}</th><th>${t("code")}</th>
    <th>${t("from")}</th><th>${t("to")}</th><th>${t("reason")}</th><th>${t("declared_by")}</th><th>${t("state")}</th>
    <th>${t("action")}</th></tr></thead><tbody>${list.map(markRow).join("")}</tbody></table></div>`;
}

/** Review and withdraw buttons of a marks table; `redraw` after a change. */
export function bindMarks(root, redraw) {
  root.addEventListener("click", async (ev) => {
    const action = ["accept", "reject", "withdraw"].find((c) => ev.target.classList.contains(c));
    const tr = ev.target.closest("tr[data-id]");
    if (!action || !tr || ev.target.tagName !== "BUTTON") return;
    ev.target.disabled = true;
    try {
      await post(`/api/v1/marks/${tr.dataset.id}/${action}`, { note: tr.querySelector(".note")?.value || null });
    } catch (e) {
      tr.querySelector(".actions").insertAdjacentHTML("beforeend", `<span class="error">${esc(e.message)}</span>`);
    }
    await redraw();
  });
}

/** The declaration form of a plant's operator. */
export async function declareForm(park, plant) {
  if (!session.me.may_declare_maintenance) return "";
  const list = [...(await markCodes()).values()];
  const now = new Date();
  return `<form id="declare-mark" class="filters"><h3>${t("declare_mark")}</h3>
    <label>${t("point")}<select name="point"><option value="">${esc(t("whole_plant"))}</option>${pointList(park, plant).map((p) =>
      `<option value="${esc(p.id)}">${esc(pointName(park, plant, p.id))}</option>`).join("")}</select></label>
    <label>${t("code")}<select name="code" required>${list.map((c) =>
      `<option value="${esc(c.code)}">${esc(lang() === "zh" ? c.name_zh : c.name_en)} (${esc(c.code)})</option>`).join("")}</select></label>
    <label>${t("from")}<input type="datetime-local" name="from" required value="${toLocalInput(now)}"></label>
    <label>${t("to")}<input type="datetime-local" name="to" required value="${toLocalInput(new Date(now.getTime() + 4 * 3600e3))}"></label>
    <label class="wide">${t("reason")}<input name="note" required maxlength="2000"></label>
    <button type="submit">${t("submit")}</button><p class="error" id="declare-error"></p></form>`;
}

export function bindDeclare(root, park, plant, redraw) {
  const form = root.querySelector("#declare-mark");
  if (!form) return;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const body = { park, plant, point: f.point.value || null, code: f.code.value, note: f.note.value.trim(),
      from: fromLocalInput(f.from.value)?.toISOString(), to: fromLocalInput(f.to.value)?.toISOString() };
    try {
      await post("/api/v1/marks", body);
      await redraw();
    } catch (e) {
      form.querySelector("#declare-error").textContent = e.message;
    }
  });
}

/** #/marks?park=&plant=&status= : the review queue (pending by default). */
export async function marksPage(view, query) {
  const park = query.get("park") || session.parks[0]?.id;
  const status = query.get("status") ?? "review";  // review: pending, or in effect but not decided yet
  await Promise.all([loadNames(park), markCodes()]);
  const draw = async () => {
    const q = new URLSearchParams({ park, limit: "500" });
    if (query.get("plant")) q.set("plant", query.get("plant"));
    if (status === "review") { q.append("status", "pending"); q.append("status", "approved"); } else if (status) q.set("status", status);
    const found = await api("/api/v1/marks?" + q.toString());
    const list = status === "review" ? found.filter((m) => !m.decided_by) : found;
    view.innerHTML = `<section class="card"><h2>${t("marks")}</h2><p class="help">${t("marks_help")}</p>
      <form id="mark-filters" class="filters"><label>${t("plant")}<select name="plant"><option value="">${esc(t("all"))}</option>
      ${plantList(park).map((p) => `<option value="${esc(p.id)}"${p.id === query.get("plant") ? " selected" : ""}>${esc(plantName(park, p.id))}</option>`).join("")}
      </select></label><label>${t("state")}<select name="status"><option value="review"${status === "review" ? " selected" : ""}>${esc(t("to_review"))}</option><option value="">${esc(t("all"))}</option>
      ${["pending", "approved", "rejected", "withdrawn"].map((s) => `<option value="${s}"${s === status ? " selected" : ""}>${esc(word("mstatus", s))}</option>`).join("")}
      </select></label><button type="submit">${t("apply")}</button></form>
      <div id="marks-list">${marksTable(list)}</div></section>`;
    view.querySelector("#mark-filters").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const out = new URLSearchParams({ park, status: ev.target.elements.status.value });
      if (ev.target.elements.plant.value) out.set("plant", ev.target.elements.plant.value);
      location.hash = "#/marks?" + out.toString();
    });
    bindMarks(view.querySelector("#marks-list"), draw);
  };
  await draw();
  return null;
}

