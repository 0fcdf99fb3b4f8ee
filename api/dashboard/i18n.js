// Every word the dashboard shows, in Chinese and English. Keys are flat; a domain code is looked up as
// "group.code" (kind.exceedance, sev.critical, flag.N) through word(). Modules with words of their own
// (chart.js, overview.js) export STRINGS, merged here. A key missing in the language shown is recorded
// in `missing` (the browser tests fail on any) and shown from the other language, never as a blank.
import DOMAIN from "./words.json" with { type: "json" };

const ZH = {
  title: "园区废水合规监控", nav_incidents: "待办事件", nav_parks: "园区总览", nav_marks: "数据标记",
  nav_reports: "报表", nav_docs: "接口文档", logout: "退出登录", lang_other: "English",
  login: "登录", login_help: "粘贴 `outfall token create` 生成的令牌，或打开带令牌的登录链接。", sign_in: "登录",
  bad_token: "令牌无效、已撤销或已过期", signed_out: "已退出登录。令牌已从本浏览器删除。",
  switch_title: "切换登录身份？", switch_help: "此链接带有另一个令牌。当前登录：", switch_to: "链接的令牌：",
  switch_yes: "使用链接的令牌", switch_no: "保持当前登录", live: "实时推送", loading: "加载中…",
  error: "出错了", not_found: "未找到",
  // incidents
  incidents: "待办事件", incidents_help: "未关闭的事件：未确认、已确认、已恢复待关闭（数据已恢复但尚未由执法人员关闭）。",
  none: "没有符合条件的事件", filter: "筛选", all: "全部", park: "园区", plant: "企业", point: "监测点",
  parameter: "参数", kind: "类型", severity: "级别", state: "状态", from: "从", to: "到", apply: "应用",
  reset: "重置", total: "合计", time: "时间", opened: "发生时间", place: "位置", value: "值", peak: "峰值",
  limit: "限值", limit_source: "限值依据", action: "操作", note: "备注", note_placeholder: "备注（可选）",
  ack: "确认", resolve: "关闭", annotate: "添加备注", open_detail: "详情", back_to_queue: "返回待办事件",
  incident: "事件", evidence_window: "证据时段", evidence_values: "证据数据", flag: "标记",
  first_time: "首次", last_time: "最近", count: "次数", escalation: "升级次数", basis: "判定依据",
  during_maintenance: "发生于已批准的维护时段", muted: "已抑制", explanation: "企业说明",
  accept_explanation: "采纳说明", reject_explanation: "驳回说明", sample: "留样", no_sample: "未要求留样",
  audit: "处理记录", actor: "操作人", notes: "备注与处理记录", export_evidence: "导出证据包（zip）",
  exported: "证据包已下载，SHA-256：", marks_in_window: "证据时段内的数据标记", no_marks: "无数据标记",
  no_values: "无数据（整个监测点的事件）", chart: "曲线", changed: "已更新", needs_note: "关闭事件请填写备注",
  unit: "单位", acked_by: "确认人", resolved_by: "关闭人", state_change: "状态变化",
  // parks and plants
  parks: "园区", plants: "企业", points: "监测点", online: "在线", offline: "离线", last_seen: "最后上报",
  inflow: "进水", outflow: "出水", reuse: "回用", reuse_ratio: "回用率", target: "目标",
  below_target: "低于目标", open_incidents: "未关闭事件", plant_file: "企业档案", status: "实时状态",
  loggers: "数采仪", mn: "设备编号（MN）", interval: "上报间隔", standard: "执行标准",
  discharge_mode: "排放方式", quirks: "数采仪报文偏差（已接收，CRC 校验通过）", ratio: "占限值",
  valid_rate: "今日有效率", kpis: "数据传输有效率", transmission_rate: "传输率", validity_rate: "有效率",
  effective_rate: "传输有效率", kpi_day: "日期", no_kpi: "该日尚未结算", seconds: "秒", show_chart: "查看曲线",
  hourly: "小时均值", daily: "日均值", mean: "均值", inactive: "已停用", range: "范围",
  // marks
  marks: "数据标记", marks_help: "企业申报数据标记（停产、检修、校准等），执法人员审核。",
  declare_mark: "申报数据标记", code: "标记代码", reason: "说明", submit: "提交", accept: "通过",
  reject: "驳回", withdraw: "撤回", whole_plant: "整个企业", declared_by: "申报人", decided_by: "审核人",
  invalidates: "期间数据无效", claims_stopped: "声明停产", mark_created: "已提交，等待审核", to_review: "待审核",
  // reports
  reports: "报表", daily_report: "日报", monthly_report: "月报", quarterly_report: "季报", day: "日期",
  month: "月份", quarter: "季度", show: "查看", download_csv: "下载 CSV", download_xlsx: "下载 Excel",
  print: "打印", whole_park: "全园区", report_help: "默认显示最近一个完整自然日（园区当地时间）。",
  // the plant file
  pf_download: "下载档案（JSON）", pf_period: "档案期间", pf_months: "个月", pf_as_of: "生成于",
  pf_kpi_months: "数据传输有效率（按月）", pf_days_closed: "已结算天数", pf_target: "目标",
  pf_earlier_none: "更早的月份没有已结算的日子",
  pf_limits: "现行限值及依据", pf_series: "监测点 · 参数", pf_valid: "有效期", pf_open_end: "长期有效",
  pf_no_limit: "无限值", pf_not_detected: "不得检出", pf_src_permit: "排污许可证",
  pf_permits: "排污许可证限值", pf_permit_ref: "许可证编号", pf_no_permits: "该企业无许可证限值条目，执行排放标准限值。",
  pf_edition: "HJ 212 版本（配置 / 实际）", pf_not_seen: "未见报文", pf_transport: "接入方式", pf_clock: "时钟偏差",
  pf_clock_ahead: "快", pf_clock_behind: "慢", pf_messages: "条报文", pf_sm4: "SM4 密钥", pf_generation: "代次",
  pf_issued: "签发于", pf_sm4_pending: "新密钥待确认，代次", pf_sm4_older: "旧密钥有效至", pf_quirks: "报文偏差",
  pf_period_incidents: "档案期间的事件及结果", pf_outcome: "结果", pf_closed_by: "已关闭，关闭人",
  pf_withdrawn: "因数据标记撤回，标记", pf_truncated: "仅列出最近 500 条，更早的请在待办事件中按时间筛选。",
  "quirk.split_flag_without_pnum": "Flag 分包位已置但缺 PNUM/PNO", "quirk.system_code_not_two_digits": "ST 为空或不是 2 位",
  "quirk.mn_not_24_characters": "MN 不是 24 位", "quirk.data_time_milliseconds": "DataTime 带毫秒（17 位）",
  "quirk.length_field_wrong": "数据段长度字段不符（CRC 正确）",
  "transport.mqtt-json": "MQTT（JSON）", "transport.mqtt-hj212": "MQTT（HJ 212 报文）", "transport.tcp-hj212": "TCP（HJ 212）",
  "clockbasis.qn": "按请求编码 QN", "clockbasis.data_time": "按数据时间", "clockbasis.mixed": "按 QN 与数据时间",
  // docs and misc
  yes: "是", no: "否", none_short: "无",
  // domain words (the alerts' kinds, severities and states, point kinds, marks' statuses and groups: in
  // words.json, which the report pages read too)
  "plkind.enterprise": "企业", "plkind.central_plant": "集中污水处理厂",
  "flag.N": "正常", "flag.F": "停运", "flag.M": "维护", "flag.S": "手工输入", "flag.D": "故障",
  "flag.C": "校准", "flag.T": "超测定上限", "flag.B": "通讯异常",
  "expl.pending": "待审核", "expl.accepted": "已采纳", "expl.rejected": "已驳回",
  "mode.direct": "直接排放", "mode.indirect": "间接排放",
  "act.open": "发生", "act.acknowledge": "确认", "act.resolve": "关闭", "act.annotate": "备注",
  "act.clear": "数据恢复", "act.escalate": "升级", "act.mute": "抑制", "act.unmute": "解除抑制",
  "act.refer": "转交执法人员", "act.explain": "企业说明", "act.accept": "采纳说明", "act.reject": "驳回说明",
  "act.evidence": "导出证据", "act.withdraw": "因标记撤回", "act.reinstate": "恢复",
  "act.notification_withheld": "通知已抑制", "act.reopen": "重新打开", "act.create": "申报",
  "sample.queued": "留样指令排队中", "sample.sent": "留样指令已发送", "sample.accepted": "留样进行中",
  "sample.done": "已留样", "sample.refused": "留样被拒绝", "sample.failed": "留样失败", "sample.expired": "留样指令超时",
  "range.24h": "24 小时", "range.7d": "7 天", "range.30d": "30 天",
  "mute.inhibited": "监测点离线或故障期间不通知", "mute.maintenance": "维护时段内不通知",
  "basis.instant": "单个数值", "basis.hour": "小时均值", "basis.day": "日均值", "basis.status": "状态",
  "role.admin": "管理员", "role.officer": "执法人员", "role.operator": "企业运维", explain: "提交说明",
};

const EN = {
  title: "Park wastewater compliance", nav_incidents: "Incidents", nav_parks: "Park overview", nav_marks: "Data marks",
  nav_reports: "Reports", nav_docs: "API docs", logout: "Sign out", lang_other: "中文",
  login: "Sign in", login_help: "Paste a token made with `outfall token create`, or open a sign-in link.",
  sign_in: "Sign in", bad_token: "Unknown, revoked or expired token",
  signed_out: "Signed out. The token was removed from this browser.",
  switch_title: "Switch who is signed in?", switch_help: "This link carries another token. Signed in now as:",
  switch_to: "The link's token:", switch_yes: "Use the link's token", switch_no: "Stay signed in as now",
  live: "Live updates", loading: "Loading…", error: "Something went wrong", not_found: "Not found",
  incidents: "Incidents", incidents_help: "Everything not closed: open, acknowledged, and cleared by the data but not yet closed by an officer.",
  none: "No incidents match", filter: "Filter", all: "All", park: "Park", plant: "Plant", point: "Point",
  parameter: "Parameter", kind: "Kind", severity: "Severity", state: "State", from: "From", to: "To", apply: "Apply",
  reset: "Reset", total: "Total", time: "Time", opened: "Opened", place: "Where", value: "Value", peak: "Peak",
  limit: "Limit", limit_source: "Limit source", action: "Action", note: "Note", note_placeholder: "Note (optional)",
  ack: "Acknowledge", resolve: "Close", annotate: "Add note", open_detail: "Details", back_to_queue: "Back to incidents",
  incident: "Incident", evidence_window: "Evidence window", evidence_values: "Evidence values", flag: "Flag",
  first_time: "First", last_time: "Latest", count: "Count", escalation: "Escalations", basis: "Basis",
  during_maintenance: "Opened during an approved maintenance window", muted: "Muted", explanation: "Plant's explanation",
  accept_explanation: "Accept explanation", reject_explanation: "Reject explanation", sample: "Sample",
  no_sample: "No sample asked for", audit: "History", actor: "By", notes: "Notes and history",
  export_evidence: "Export evidence (zip)", exported: "Evidence downloaded, SHA-256:",
  marks_in_window: "Data marks in the evidence window", no_marks: "No data marks",
  no_values: "No values (an incident of the whole point)", chart: "Chart", changed: "Updated",
  needs_note: "Closing an incident needs a note", unit: "Unit", acked_by: "Acknowledged by", resolved_by: "Closed by",
  state_change: "State change",
  parks: "Parks", plants: "Plants", points: "Points", online: "online", offline: "offline", last_seen: "Last seen",
  inflow: "Inflow", outflow: "Outflow", reuse: "Reuse", reuse_ratio: "Reuse ratio", target: "target",
  below_target: "below target", open_incidents: "Open incidents", plant_file: "Plant file", status: "Live status",
  loggers: "Data loggers", mn: "Device ID (MN)", interval: "Interval", standard: "Standard",
  discharge_mode: "Discharge", quirks: "Logger deviations from HJ 212 (accepted, CRC intact)", ratio: "of limit",
  valid_rate: "Valid today", kpis: "Effective transmission", transmission_rate: "Transmission",
  validity_rate: "Validity", effective_rate: "Effective transmission", kpi_day: "Day", no_kpi: "Day not closed yet",
  seconds: "s", show_chart: "Chart", hourly: "Hourly means", daily: "Daily means", mean: "Mean",
  inactive: "inactive", range: "Range",
  marks: "Data marks", marks_help: "Plants declare data marks (stopped, maintenance, calibration…); officers review them.",
  declare_mark: "Declare a data mark", code: "Mark code", reason: "Note", submit: "Submit", accept: "Accept",
  reject: "Reject", withdraw: "Withdraw", whole_plant: "Whole plant", declared_by: "Declared by",
  decided_by: "Decided by", invalidates: "Data invalid meanwhile", claims_stopped: "Claims stopped",
  mark_created: "Submitted, waiting for review", to_review: "To review",
  reports: "Reports", daily_report: "Daily report", monthly_report: "Monthly report",
  quarterly_report: "Quarterly report", day: "Day", month: "Month", quarter: "Quarter", show: "Show",
  download_csv: "Download CSV", download_xlsx: "Download Excel", print: "Print", whole_park: "Whole park",
  report_help: "Opens on the last complete day (park-local time).",
  pf_download: "Download the file (JSON)", pf_period: "File covers", pf_months: "months", pf_as_of: "as of",
  pf_kpi_months: "Effective transmission by month", pf_days_closed: "Days closed", pf_target: "Target",
  pf_earlier_none: "earlier months have no closed day",
  pf_limits: "Limits in force and their source", pf_series: "Point · parameter", pf_valid: "In force",
  pf_open_end: "open-ended", pf_no_limit: "no limit", pf_not_detected: "not to be detected",
  pf_src_permit: "Discharge permit", pf_permits: "Discharge permit limits", pf_permit_ref: "Permit no.",
  pf_no_permits: "No permit entries for this plant: the standard's limits apply.",
  pf_edition: "HJ 212 edition (configured / seen)", pf_not_seen: "no frame seen", pf_transport: "Transport",
  pf_clock: "Clock drift", pf_clock_ahead: "ahead by", pf_clock_behind: "behind by", pf_messages: "messages",
  pf_sm4: "SM4 key", pf_generation: "generation", pf_issued: "issued", pf_sm4_pending: "new key pending, generation",
  pf_sm4_older: "older key accepted until", pf_quirks: "Frame deviations",
  pf_period_incidents: "Incidents in the period and how they ended", pf_outcome: "Outcome", pf_closed_by: "Closed by",
  pf_withdrawn: "Withdrawn by data mark", pf_truncated: "Only the latest 500 are listed; filter the incidents by time for older ones.",
  "quirk.split_flag_without_pnum": "split bit of Flag set without PNUM/PNO", "quirk.system_code_not_two_digits": "ST blank or not 2 digits",
  "quirk.mn_not_24_characters": "MN not 24 characters", "quirk.data_time_milliseconds": "DataTime with milliseconds (17 digits)",
  "quirk.length_field_wrong": "length field does not match the data (CRC intact)",
  "transport.mqtt-json": "MQTT (JSON)", "transport.mqtt-hj212": "MQTT (HJ 212 frames)", "transport.tcp-hj212": "TCP (HJ 212)",
  "clockbasis.qn": "by QN", "clockbasis.data_time": "by data time", "clockbasis.mixed": "by QN and data time",
  yes: "yes", no: "no", none_short: "none",
  "plkind.enterprise": "enterprise", "plkind.central_plant": "central treatment plant",
  "flag.N": "normal", "flag.F": "stopped", "flag.M": "maintenance", "flag.S": "manual entry", "flag.D": "fault",
  "flag.C": "calibration", "flag.T": "above range", "flag.B": "link fault",
  "expl.pending": "pending review", "expl.accepted": "accepted", "expl.rejected": "rejected",
  "mode.direct": "direct", "mode.indirect": "indirect (to the central plant)",
  "act.open": "opened", "act.acknowledge": "acknowledged", "act.resolve": "closed", "act.annotate": "note",
  "act.clear": "cleared by the data", "act.escalate": "escalated", "act.mute": "muted", "act.unmute": "unmuted",
  "act.refer": "referred to officers", "act.explain": "plant explained", "act.accept": "explanation accepted",
  "act.reject": "explanation rejected", "act.evidence": "evidence exported", "act.withdraw": "withdrawn by a mark",
  "act.reinstate": "reinstated", "act.notification_withheld": "notification withheld", "act.reopen": "reopened",
  "act.create": "declared",
  "sample.queued": "sample command queued", "sample.sent": "sample command sent", "sample.accepted": "sampling",
  "sample.done": "sample retained", "sample.refused": "sample refused", "sample.failed": "sample failed",
  "sample.expired": "sample command expired",
  "range.24h": "24 h", "range.7d": "7 days", "range.30d": "30 days",
  "mute.inhibited": "not notified while the point is offline or faulty",
  "mute.maintenance": "not notified during maintenance",
  "basis.instant": "single value", "basis.hour": "hourly mean", "basis.day": "daily mean", "basis.status": "status",
  "role.admin": "administrator", "role.officer": "officer", "role.operator": "plant operator",
  explain: "Submit explanation",
};

export const DICT = { zh: { ...ZH, ...DOMAIN.zh }, en: { ...EN, ...DOMAIN.en } };
export const missing = new Set();
let current = "zh";

export function setLang(value) { current = value === "en" ? "en" : "zh"; }
export function lang() { return current; }

/** Merge a module's own words (its STRINGS) into the dictionary. */
export function merge(strings) {
  if (!strings) return;
  for (const l of ["zh", "en"]) Object.assign(DICT[l], strings[l] || {});
}

export function t(key) {
  const found = DICT[current][key];
  if (found !== undefined) return found;
  missing.add(`${current}:${key}`);
  return DICT.zh[key] ?? DICT.en[key] ?? key;
}

/** A domain code as a word: word("sev", "critical"). */
export function word(group, code) {
  if (code === null || code === undefined || code === "") return "–";
  return t(`${group}.${code}`);
}

/** Fill every [data-t] element under root. */
export function translateDom(root) {
  root.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
}
