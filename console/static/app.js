// The globalmon console. No build step: one ES module. Every value from an API is placed with
// text nodes (h() below), never parsed as HTML, so a label value cannot become markup.

const REFRESH_MS = 30000;
const main = document.getElementById("main");
const statusBox = document.getElementById("status");
let config = null;
let refreshTimer = null;
let socket = null;
let renderSerial = 0;

// ---- DOM -------------------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
function table(headers, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows));
}
function badge(kind, value) {
  return value ? h("span", { class: `${kind} ${kind}-${value}` }, value) : "";
}
function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}
function notice(text, error = false) {
  return h("p", { class: error ? "notice error" : "notice" }, text);
}
function when(ts) {
  if (ts === null || ts === undefined || ts === "") return "—";
  const d = typeof ts === "number" ? new Date(ts * 1000) : new Date(ts);
  return isNaN(d) ? String(ts) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  const out = [];
  let left = Math.max(0, Math.round(seconds));
  for (const [u, n] of units) {
    if (left >= n && out.length < 2) { out.push(`${Math.floor(left / n)}${u}`); left %= n; }
  }
  return out.join(" ") || "0s";
}
function number(v, unit) {
  if (v === null || v === undefined) return "—";
  if (unit === "ratio") return `${(v * 100).toFixed(1)}%`;
  if (unit === "bytes") {
    const k = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < k.length - 1) { v /= 1024; i++; }
    return `${v.toFixed(1)} ${k[i]}`;
  }
  if (unit === "seconds") return v < 1 ? `${(v * 1000).toFixed(0)} ms` : `${v.toFixed(2)} s`;
  if (unit === "per_second") return `${v.toFixed(2)}/s`;
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : v.toFixed(3);
}

// ---- the operator's credential ----------------------------------------------------------------
// Kept for this tab only (sessionStorage); sent to the console, which passes it to the webhook.
function operator() {
  return { name: sessionStorage.getItem("operator") || "", token: sessionStorage.getItem("token") || "" };
}
function renderWho() {
  const who = document.getElementById("who");
  who.replaceChildren();
  const op = operator();
  if (op.token) {
    who.append(h("span", { id: "operator" }, `operator: ${op.name}`),
      h("button", { id: "sign-out", onclick: () => { sessionStorage.clear(); renderWho(); route(); } }, "Sign out"));
    return;
  }
  const name = h("input", { id: "operator-name", placeholder: "your name", autocomplete: "username" });
  const token = h("input", { id: "operator-token", type: "password", placeholder: "webhook token",
    autocomplete: "current-password" });
  who.append(h("form", { id: "sign-in", onsubmit: (e) => {
    e.preventDefault();
    if (!name.value.trim() || !token.value) return;
    sessionStorage.setItem("operator", name.value.trim());
    sessionStorage.setItem("token", token.value);
    renderWho();
    route();
  } }, name, token, h("button", { type: "submit" }, "Sign in")));
}

// ---- API ---------------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? `${body.error}${body.field ? ` (${body.field})` : ""}` : `HTTP ${status}`);
    this.status = status;
  }
}
async function api(path, { method = "GET", body } = {}) {
  const headers = {};
  const op = operator();
  if (op.token) headers.Authorization = `Bearer ${op.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let data = null;
  try { data = JSON.parse(text); } catch { data = null; }
  if (!r.ok) throw new ApiError(r.status, data);
  if (data === null) {
    throw new ApiError(r.status, { error: `${path} answered ${r.status} with no JSON (${text.length} bytes: ${text.slice(0, 80)})` });
  }
  return data;
}
function failure(err) {
  if (err instanceof ApiError && err.status === 401) {
    return notice("Sign in (your name and a token, top right) to see this page: incidents and plugin data need a viewer credential.", true);
  }
  return notice(`Could not load: ${err.message}`, true);
}

// ---- routing -------------------------------------------------------------------------------------
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}
function go(parts, params) {
  const q = params && [...params].length ? `?${params}` : "";
  const hash = `#/${parts.map(encodeURIComponent).join("/")}${q}`;
  if (location.hash === hash) route(); // the same filters again: fetch anew
  else location.hash = hash;
}
const views = { incidents, regions, plugins, capacity };

async function route() {
  const { parts, params } = parseHash();
  const view = parts[0] in views ? parts[0] : "incidents";
  for (const a of document.querySelectorAll("header nav a")) {
    a.classList.toggle("active", a.dataset.view === view);
  }
  if (socket) { socket.close(); socket = null; }
  clearInterval(refreshTimer);
  const serial = ++renderSerial;
  const draw = async (first) => {
    try {
      const content = await views[view](parts.slice(1), params, first);
      if (serial !== renderSerial) return; // the user went elsewhere meanwhile
      if (content) main.replaceChildren(content);
      statusBox.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (serial === renderSerial) main.replaceChildren(failure(err));
    }
  };
  await draw(true);
  refreshTimer = setInterval(() => draw(false), REFRESH_MS);
}

// ---- incidents ---------------------------------------------------------------------------------
const FILTERS = ["state", "severity", "region", "service", "alertname"];

async function incidents(parts, params) {
  if (parts.length) return incident(Number(parts[0]));
  const q = new URLSearchParams();
  for (const f of FILTERS) if (params.get(f)) q.set(f, params.get(f));
  const form = incidentFilters(params);
  let body;
  try {
    const page = await api(`/api/incidents?${q}`);
    body = page.incidents.length
      ? table(["#", "state", "severity", "alert", "region", "service", "opened", "acknowledged by"],
        page.incidents.map((i) => h("tr", { class: "link", "data-incident": i.id, onclick: () => go(["incidents", String(i.id)]) },
          h("td", {}, h("a", { href: `#/incidents/${i.id}` }, `#${i.id}`)),
          h("td", {}, badge("state", i.state)), h("td", {}, badge("sev", i.severity)),
          h("td", {}, i.alertname), h("td", {}, i.region ?? "—"), h("td", {}, i.service ?? "—"),
          h("td", {}, when(i.opened_at)), h("td", {}, i.acknowledged_by ?? "—"))))
      : notice("No incidents match.");
  } catch (err) {
    body = failure(err);
  }
  return h("section", {}, h("h2", {}, "Incidents"), form, body);
}

function incidentFilters(params) {
  const choice = (name, values) => h("label", {}, name,
    h("select", { name }, h("option", { value: "" }, "any"),
      values.map((v) => h("option", { value: v, selected: params.get(name) === v }, v))));
  const text = (name) => h("label", {}, name, h("input", { name, value: params.get(name) || "" }));
  return h("form", { class: "filters", id: "incident-filters", onsubmit: (e) => {
    e.preventDefault();
    const out = new URLSearchParams();
    for (const [k, v] of new FormData(e.target)) if (v) out.set(k, v);
    go(["incidents"], out);
  } },
  choice("state", ["firing", "acknowledged", "resolved"]),
  choice("severity", ["critical", "warning", "info"]),
  choice("region", config.regions.map((r) => r.id)),
  choice("service", config.services.map((x) => x.name)),
  text("alertname"),
  h("button", { type: "submit" }, "Filter"));
}

async function incident(id) {
  let i;
  try { i = await api(`/api/incidents/${id}`); } catch (err) { return failure(err); }
  const note = h("textarea", { id: "note", rows: 2, cols: 50, placeholder: "note (optional)" });
  const result = h("div", { id: "act-result" });
  const act = (verb) => async () => {
    const op = operator();
    try {
      await api(`/api/incidents/${id}/${verb}`, { method: "POST", body: { by: op.name, note: note.value } });
      route();
    } catch (err) {
      result.replaceChildren(notice(`${verb} failed: ${err.message}`, true));
    }
  };
  const open = i.state !== "resolved";
  const buttons = h("div", { class: "actions" }, note,
    i.state === "firing" ? h("button", { class: "primary", id: "acknowledge", onclick: act("acknowledge") }, "Acknowledge") : "",
    i.state === "acknowledged" ? h("button", { id: "unacknowledge", onclick: act("unacknowledge") }, "Unacknowledge") : "",
    open ? h("button", { id: "resolve", onclick: act("resolve") }, "Resolve") : "",
    h("button", { id: "annotate", onclick: act("annotate") }, "Annotate"));
  const pairs = (o) => table(["name", "value"], Object.entries(o || {}).map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, v))));
  const detail = (t) => Object.entries(t).filter(([k]) => k !== "at" && k !== "kind")
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join("  ");
  const link = (n) => h("a", { href: `#/incidents/${n}` }, `#${n}`);
  return h("section", { id: "incident" },
    h("p", {}, h("a", { href: "#/incidents" }, "← incidents")),
    h("h2", {}, `#${i.id} ${i.alertname} `, badge("state", i.state), " ", badge("sev", i.severity)),
    h("div", { class: "grid" },
      h("div", { class: "card" }, kv([
        ["region", i.region], ["service", i.service], ["started", when(i.starts_at)], ["opened", when(i.opened_at)],
        ["acknowledged", i.acknowledged_at ? `${when(i.acknowledged_at)} by ${i.acknowledged_by}` : null],
        ["resolved", i.resolved_at ? `${when(i.resolved_at)} by ${i.resolved_by ?? "Alertmanager"}` : null],
        ["policy", i.policy], ["next escalation", when(i.next_escalation_at)],
        ["auto-recovered", i.auto_recovered ? "yes" : "no"],
        ["symptom of", i.symptom_of ? link(i.symptom_of) : null],
      ])),
      h("div", { class: "card" }, h("h3", {}, "Annotations"), pairs(i.annotations)),
      h("div", { class: "card" }, h("h3", {}, "Labels"), pairs(i.labels))),
    buttons, result,
    h("h3", {}, "Timeline"),
    table(["at", "what", "detail"], i.timeline.map((t) => h("tr", { class: "timeline-row" },
      h("td", {}, when(t.at)), h("td", {}, t.kind), h("td", {}, detail(t))))),
    h("h3", {}, "Notifications"),
    i.notifications.length ? table(["receiver", "event", "step", "state", "attempts"], i.notifications.map((n) =>
      h("tr", {}, h("td", {}, n.receiver), h("td", {}, n.event), h("td", {}, n.step), h("td", {}, n.state), h("td", {}, n.attempts))))
      : h("p", { class: "muted" }, "none"),
    h("h3", {}, "Recovery actions"),
    i.actions.length ? table(["action", "target", "state", "reason", ""], i.actions.map((a) =>
      h("tr", {}, h("td", {}, a.action), h("td", {}, a.target), h("td", {}, a.state), h("td", {}, a.reason ?? ""),
        h("td", {}, a.state === "awaiting_approval" ? [
          h("button", { class: "primary", onclick: decide(a.id, "approve", result) }, "Approve"), " ",
          h("button", { class: "danger", onclick: decide(a.id, "reject", result) }, "Reject")] : ""))))
      : h("p", { class: "muted" }, "none"),
    h("h3", {}, "Root-cause candidates"),
    i.root_cause_candidates.length ? table(["#", "alert", "region", "service", "opened"], i.root_cause_candidates.map((c) =>
      h("tr", {}, h("td", {}, link(c.id)), h("td", {}, c.alertname), h("td", {}, c.region ?? "—"),
        h("td", {}, c.service ?? "—"), h("td", {}, when(c.opened_at)))))
      : h("p", { class: "muted" }, "none"),
    i.symptoms.length ? [h("h3", {}, "Symptoms"), h("p", {}, i.symptoms.flatMap((n) => [link(n), " "]))] : "");
}

function decide(actionId, verb, result) {
  return async () => {
    try {
      await api(`/api/actions/${actionId}/${verb}`, { method: "POST", body: { by: operator().name } });
      route();
    } catch (err) {
      result.replaceChildren(notice(`${verb} failed: ${err.message}`, true));
    }
  };
}

// ---- regions: the drill-down's top ------------------------------------------------------------
async function regions() {
  let open = null;
  try { open = (await api("/api/incidents?limit=1000")).incidents.filter((i) => i.state !== "resolved"); } catch { open = null; }
  const count = (region, service) => open === null ? "" :
    ` (${open.filter((i) => i.region === region && (!service || i.service === service)).length} open)`;
  const q = (o) => new URLSearchParams(o).toString();
  return h("section", {}, h("h2", {}, "Regions"),
    open === null ? notice("Sign in to see open incidents per region and service.") : "",
    h("div", { class: "grid" }, config.regions.map((r) => h("div", { class: "card region", "data-region": r.id },
      h("h3", {}, h("a", { href: `#/incidents?${q({ region: r.id })}` }, `${r.name} (${r.id})`), count(r.id)),
      kv([
        ["agents", r.agents.map((a) => a.id).join(", ") || "none"],
        ["services", r.services.length ? r.services.flatMap((sv) => [
          h("a", { href: `#/incidents?${q({ region: r.id, service: sv })}` }, sv), count(r.id, sv), " "]) : "none"],
        ["plugins", r.plugins.length ? r.plugins.flatMap((p) => [
          h("a", { href: `#/plugins/${r.id}/${p}/overview` }, p), " "]) : "none"],
      ])))));
}

// ---- plugins ----------------------------------------------------------------------------------
const TABS = ["overview", "metrics", "logs", "events", "snapshots"];
const LEVELS = ["debug", "info", "warning", "error", "critical"];
const SEVERITIES = ["info", "low", "medium", "high", "critical"];
const METRIC_TYPES = ["cpu_usage", "memory_usage", "response_time", "error_rate", "throughput",
  "request_count", "disk_io", "network_io", "custom"];

async function plugins(parts, params, first) {
  const [region, plugin, tab = "overview"] = parts;
  if (!region || !plugin) return pluginList();
  if (!first && (tab === "logs" || tab === "events")) return null; // live: the stream keeps it fresh
  const hours = params.get("hours") || (tab === "overview" ? "1" : "24");
  const head = h("div", {},
    h("p", {}, h("a", { href: "#/plugins" }, "← plugins"), " · ", h("a", { href: "#/regions" }, region)),
    h("h2", {}, `${plugin} `, h("span", { class: "muted" }, `in ${region}`)),
    h("nav", { class: "tabs" }, TABS.map((t) => h("a", { href: `#/plugins/${encodeURIComponent(region)}/${encodeURIComponent(plugin)}/${t}`,
      class: t === tab ? "active" : "", "data-tab": t }, t))));
  const base = `/api/regions/${encodeURIComponent(region)}/plugins/${encodeURIComponent(plugin)}`;
  const body = await pluginTab(tab, base, region, plugin, params, hours);
  return h("section", { id: "plugin" }, head, body);
}

async function pluginList() {
  const rows = [];
  const notes = [];
  for (const r of config.regions.filter((x) => x.plugins.length)) {
    try {
      const answer = await api(`/api/regions/${encodeURIComponent(r.id)}/plugins`);
      for (const p of answer.plugins) rows.push([r.id, p]);
    } catch (err) { notes.push(notice(`${r.id}: ${err.message}`, true)); }
  }
  return h("section", {}, h("h2", {}, "Plugins"), notes,
    rows.length ? table(["plugin", "region", "owner", "state", "last report", ""], rows.map(([region, p]) =>
      h("tr", { class: "link", onclick: () => go(["plugins", region, p.id, "overview"]) },
        h("td", {}, h("a", { href: `#/plugins/${region}/${p.id}/overview` }, p.id)), h("td", {}, region),
        h("td", {}, p.owner), h("td", {}, h("span", { class: `state ${p.state === "live" ? "state-resolved" : "state-firing"}` }, p.state)),
        h("td", {}, when(p.last_report)), h("td", {}, p.description || ""))))
      : notice("No plugin exporter in the spec answered."));
}

function filterBar(params, fields, withText = true) {
  const form = h("form", { class: "toolbar", id: "plugin-filters", onsubmit: (e) => {
    e.preventDefault();
    const { parts } = parseHash();
    const out = new URLSearchParams();
    for (const [k, v] of new FormData(e.target)) if (v) out.set(k, v);
    go(parts, out);
  } });
  const hours = params.get("hours") || "24";
  form.append(h("label", {}, "time range", h("select", { name: "hours" },
    [["0.25", "15 minutes"], ["1", "last hour"], ["6", "6 hours"], ["24", "24 hours"], ["168", "7 days"]].map(([v, t]) =>
      h("option", { value: v, selected: hours === v }, t)))));
  for (const [name, values] of fields) {
    form.append(h("label", {}, name.replace("_", " "), h("select", { name },
      h("option", { value: "" }, "any"), values.map((v) => h("option", { value: v, selected: params.get(name) === v }, v)))));
  }
  if (withText) form.append(h("label", {}, "text", h("input", { name: "text", value: params.get("text") || "" })));
  form.append(h("button", { type: "submit" }, "Apply"));
  return form;
}

async function pluginTab(tab, base, region, plugin, params, hours) {
  const since = Math.floor(Date.now() / 1000 - Number(hours) * 3600);
  const q = new URLSearchParams({ since: String(since), limit: "200" });
  if (tab === "overview") return pluginOverview(base, region, plugin, hours);
  if (tab === "metrics") {
    if (params.get("metric_type")) q.set("metric_type", params.get("metric_type"));
    const page = await api(`${base}/metrics?${q}`);
    return h("div", {}, filterBar(params, [["metric_type", METRIC_TYPES]]),
      table(["time", "metric type", "value", "metadata"], page.data.map((m) => h("tr", {},
        h("td", {}, when(m.timestamp)), h("td", {}, m.metric_type), h("td", {}, number(m.value)),
        h("td", {}, Object.keys(m.metadata || {}).length ? JSON.stringify(m.metadata) : "")))));
  }
  if (tab === "logs" || tab === "events") {
    const key = tab === "logs" ? "level" : "severity";
    if (params.get(key)) q.set(key, params.get(key));
    if (params.get("text")) q.set("text", params.get("text"));
    const page = await api(`${base}/${tab}?${q}`);
    const rowOf = tab === "logs" ? logRow : eventRow;
    const tbody = h("tbody", {}, page.data.map((x) => rowOf(x, false)));
    const live = h("span", { class: "muted", id: "live" }, "connecting live updates…");
    listen(region, plugin, tab, params, tbody, live);
    const headers = tab === "logs" ? ["time", "level", "message", ""] : ["time", "severity", "type", "description"];
    return h("div", {}, filterBar(params, [[key, tab === "logs" ? LEVELS : SEVERITIES]]), h("p", {}, live),
      h("table", { id: `${tab}-table` }, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))), tbody),
      page.data.length ? "" : h("p", { class: "muted", id: "none" }, `No ${tab} match.`));
  }
  const page = await api(`${base}/snapshots?${q}`);
  return h("div", {}, filterBar(params, []),
    table(["time", "status", "CPU %", "memory %", "response ms", "error rate", "throughput", "requests", "disk IO", "network IO"],
      page.data.map((x) => h("tr", {}, h("td", {}, when(x.timestamp)), h("td", {}, x.status ?? "—"),
        h("td", {}, number(x.cpu_usage)), h("td", {}, number(x.memory_usage)), h("td", {}, number(x.response_time)),
        h("td", {}, number(x.error_rate)), h("td", {}, number(x.throughput)), h("td", {}, number(x.request_count)),
        h("td", {}, x.disk_io ? JSON.stringify(x.disk_io) : "—"), h("td", {}, x.network_io ? JSON.stringify(x.network_io) : "—")))));
}

// Stream items come as stored; list items as the seed's records: one shape for the rows.
function asLog(x) {
  return { id: x.id, level: x.level, message: x.message, timestamp: x.timestamp, context: x.context, traceback: x.traceback };
}
function logRow(x, fresh) {
  const l = asLog(x);
  const hot = l.level === "error" || l.level === "critical";
  const extra = l.traceback || (l.context && Object.keys(l.context).length);
  const row = h("tr", { class: [hot ? "error-row" : "", fresh ? "fresh" : "", extra ? "link" : ""].join(" "), "data-log": l.id },
    h("td", {}, when(l.timestamp)), h("td", {}, h("span", { class: `sev level-${l.level}` }, l.level)),
    h("td", { class: "message" }, l.message), h("td", {}, extra ? "details ▸" : ""));
  if (extra) {
    row.addEventListener("click", () => {
      const next = row.nextElementSibling;
      if (next && next.classList.contains("log-detail")) { next.remove(); return; }
      row.after(h("tr", { class: "log-detail" }, h("td", { colspan: 4 },
        l.context && Object.keys(l.context).length ? h("pre", { class: "context" }, JSON.stringify(l.context, null, 2)) : "",
        l.traceback ? h("pre", { class: "traceback" }, l.traceback) : "")));
    });
  }
  return row;
}
function eventRow(x, fresh) {
  const type = x.event_type ?? x.type;
  const hot = x.severity === "critical" || x.severity === "high";
  return h("tr", { class: [x.severity === "critical" ? "critical-row" : hot ? "error-row" : "", fresh ? "fresh" : ""].join(" "), "data-event": x.id },
    h("td", {}, when(x.timestamp)), h("td", {}, badge("sev", x.severity)), h("td", {}, type), h("td", {}, x.description));
}

function listen(region, plugin, kind, params, tbody, live) {
  const q = new URLSearchParams({ plugin, kind });
  const key = kind === "logs" ? "level" : "severity";
  if (params.get(key)) q.set(key, params.get(key));
  const text = (params.get("text") || "").toLowerCase();
  const proto = location.protocol === "https:" ? "wss" : "ws";
  // a browser's WebSocket cannot send Authorization: the token goes as a subprotocol
  const token = operator().token;
  const bearer = token ? [`globalmon.bearer.${btoa(String.fromCharCode(...new TextEncoder().encode(token))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`] : [];
  const ws = new WebSocket(`${proto}://${location.host}/api/regions/${encodeURIComponent(region)}/stream?${q}`, bearer);
  socket = ws;
  ws.onopen = () => { live.textContent = "● live"; live.className = "live"; };
  ws.onclose = () => { if (socket === ws) { live.textContent = "live updates stopped (refresh to retry)"; live.className = "muted"; } };
  ws.onmessage = (m) => {
    const { kind: k, item } = JSON.parse(m.data);
    if (k !== kind) return;
    const words = `${item.message ?? ""} ${item.description ?? ""}`.toLowerCase();
    if (text && !words.includes(text)) return;
    document.getElementById("none")?.remove();
    tbody.prepend(kind === "logs" ? logRow(item, true) : eventRow(item, true));
  };
}

async function pluginOverview(base, region, plugin, hours) {
  const [summary, charts] = await Promise.all([
    api(`${base}/summary?hours=${Math.max(1, Math.ceil(Number(hours)))}`), // whole hours there
    api(`/api/regions/${encodeURIComponent(region)}/charts/plugins/${encodeURIComponent(plugin)}?hours=${hours}`)
      .catch((err) => ({ charts: [], errors: [err.message] })),
  ]);
  const d = summary.data;
  const cur = d.current_metrics || {};
  return h("div", {}, filterBar(new URLSearchParams({ hours }), [], false),
    h("div", { class: "grid" },
      h("div", { class: "card" }, h("h3", {}, "Status"), kv([
        ["status", d.status], ["last update", when(d.last_update)], ["owner", summary.plugin.owner],
        ["logs", `${d.logs_count} (${d.error_logs_count} errors)`], ["events", d.events_count], ["metrics", d.metrics_count]])),
      h("div", { class: "card" }, h("h3", {}, "Current"), kv(Object.entries(cur).map(([k, v]) => [k, number(v)]))),
      h("div", { class: "card" }, h("h3", {}, "Recent errors"),
        d.recent_errors.length ? h("ul", {}, d.recent_errors.map((e) => h("li", {}, e))) : h("p", { class: "muted" }, "none"))),
    charts.errors.map((e) => notice(e, true)),
    h("div", { class: "grid" }, charts.charts.map(chart)));
}

const COLORS = ["#2f6fdf", "#e65100", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#6d4c41"];
function chart(c) {
  const W = 400, H = 150, L = 52, B = 18;
  // a null value (NaN or an infinity in Prometheus) is a gap in its line
  const pts = c.series.flatMap((x) => x.points).filter((p) => p[1] !== null);
  const card = h("div", { class: "card chart-card", "data-chart": c.title }, h("h3", {}, c.title));
  if (!pts.length) { card.append(h("p", { class: "muted" }, "no data")); return card; }
  const t0 = Math.min(...pts.map((p) => p[0])), t1 = Math.max(...pts.map((p) => p[0]));
  let v0 = Math.min(0, ...pts.map((p) => p[1])), v1 = Math.max(...pts.map((p) => p[1]));
  if (v1 === v0) v1 = v0 + 1;
  const x = (t) => L + ((t - t0) / (t1 - t0 || 1)) * (W - L - 6);
  const y = (v) => 6 + (1 - (v - v0) / (v1 - v0)) * (H - B - 6);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" },
    s("line", { x1: L, y1: y(v0), x2: W - 6, y2: y(v0), stroke: "#dde1e8" }),
    s("text", { x: 2, y: 12 }, number(v1, c.unit)), s("text", { x: 2, y: H - B }, number(v0, c.unit)),
    s("text", { x: L, y: H - 4 }, when(t0).slice(11, 19)), s("text", { x: W - 60, y: H - 4 }, when(t1).slice(11, 19)));
  c.series.forEach((ser, k) => {
    const color = COLORS[k % COLORS.length];
    const runs = [[]];
    for (const p of ser.points) {
      if (p[1] === null) { if (runs[runs.length - 1].length) runs.push([]); }
      else runs[runs.length - 1].push(p);
    }
    for (const run of runs) {
      if (run.length === 1) {
        const [t, v] = run[0];
        svg.append(s("circle", { cx: x(t), cy: y(v), r: 2.5, fill: color }));
      } else if (run.length > 1) {
        svg.append(s("polyline", { fill: "none", stroke: color, "stroke-width": 1.5,
          points: run.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }));
      }
    }
  });
  card.append(svg, h("div", { class: "legend" }, c.series.map((ser, k) => {
    const span = h("span", {}, ser.name);
    span.style.setProperty("--c", COLORS[k % COLORS.length]);
    return span;
  })));
  return card;
}

// ---- capacity -----------------------------------------------------------------------------------
async function capacity() {
  const answer = await api("/api/capacity");
  const band = (r) => {
    const f = r.forecasts[r.forecasts.length - 1];
    const values = [r.current, r.limit, f?.lower, f?.upper, f?.value].filter((v) => v !== null && v !== undefined);
    if (!values.length) return "";
    const lo = Math.min(0, ...values), hi = Math.max(...values) * 1.05 || 1;
    const pct = (v) => `${((v - lo) / (hi - lo)) * 100}%`;
    const bar = h("div", { class: "band", title: "forecast band (blue), now (black), limit (red)" });
    if (f && f.lower !== null && f.upper !== null) {
      const i = h("i", { class: "range" }); i.style.left = pct(f.lower); i.style.width = `calc(${pct(f.upper)} - ${pct(f.lower)})`; bar.append(i);
    }
    if (r.current !== null) { const i = h("i", { class: "mark" }); i.style.left = pct(r.current); bar.append(i); }
    if (r.limit !== null) { const i = h("i", { class: "limit" }); i.style.left = pct(r.limit); bar.append(i); }
    return bar;
  };
  return h("section", {}, h("h2", {}, "Capacity"),
    h("p", { class: "muted" }, "Forecasts written by the sidecars; the soonest exhaustion first. Bands at the sidecar's level."),
    answer.errors.map((e) => notice(e, true)),
    answer.rows.length ? table(["target", "series", "now", "limit", "time to exhaustion", "forecast [band]", "band at the last horizon"],
      answer.rows.map((r) => h("tr", { class: r.exhaustion_seconds !== null ? "error-row capacity-row" : "capacity-row" },
        h("td", {}, r.target), h("td", {}, Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(", ")),
        h("td", {}, number(r.current)), h("td", {}, number(r.limit)),
        h("td", {}, r.exhaustion_seconds !== null ? duration(r.exhaustion_seconds) : "not within the horizons"),
        h("td", {}, r.forecasts.map((f) => h("div", {}, `${f.horizon}: ${number(f.value)} [${number(f.lower)} – ${number(f.upper)}]`))),
        h("td", {}, band(r)))))
      : notice("No forecasts yet: the sidecars write them after their first run."));
}

// ---- start ----------------------------------------------------------------------------------------
async function start() {
  renderWho();
  try {
    config = await (await fetch("/api/config")).json();
  } catch (err) {
    main.replaceChildren(notice(`The console's configuration did not load: ${err.message}`, true));
    return;
  }
  window.addEventListener("hashchange", route);
  route();
}
start();
