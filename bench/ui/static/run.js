// Live run page: one server-sent-event stream per run; everything shown comes from the journal.
"use strict";
(function () {
  const boot = JSON.parse(document.getElementById("boot").textContent);
  const token = document.querySelector('meta[name="bench-token"]').content;
  const runId = boot.run.run_id;
  const state = { run: boot.run, planned: boot.planned || [], steps: boot.steps || [], live: boot.live || {},
                  requests: boot.requests || [], events: [], progress: boot.progress, report: boot.report };
  const $ = (id) => document.getElementById(id);
  const SAFE = ["safe_state", "safe_state_failed", "abort", "abort_request", "interlock", "stop", "teardown_timeout"];

  // the safe-state sequence: its steps, aborts, stops and interlock trips (not "interlocks armed" notes)
  const isSafe = (e) => SAFE.includes(e.kind) && (e.kind !== "interlock" || (e.data && e.data.tripped));
  function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; }
  function dur(s) {
    if (s === null || s === undefined) return "–";
    s = Math.max(0, s);
    if (s >= 86400) return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
    if (s >= 3600) return Math.floor(s / 3600) + " h " + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + " min";
    if (s >= 60) return Math.floor(s / 60) + " min " + String(Math.floor(s % 60)).padStart(2, "0") + " s";
    return s < 10 ? s.toFixed(1) + " s" : Math.round(s) + " s";
  }
  function val(m) { return m.value === null || m.value === undefined ? "–" : Number(m.value).toPrecision(6).replace(/\.?0+($|e)/, "$1"); }
  const stepName = (nodeid) => { const s = state.steps.find((x) => x.nodeid === nodeid); return s ? s.name : (nodeid || ""); };

  function renderHead() {
    const r = state.run;
    const st = $("status"); st.textContent = r.status; st.className = "badge s-" + r.status;
    const v = $("verdict"); v.textContent = r.verdict || ""; v.className = "badge v-" + (r.verdict || "NONE");
    v.hidden = !r.verdict || r.verdict === r.status;  // an aborted run's verdict repeats its status
    const link = $("report-link"); link.replaceChildren();
    if (state.report) { const a = el("a", "report"); a.href = state.report; a.id = "report"; link.append("· ", a); }
    const running = r.status === "RUNNING";
    $("abort").disabled = !running; $("abort-reason").disabled = !running;
    $("abort-box").hidden = !running;
  }

  function renderBanner() {
    const b = $("banner"); const r = state.run;
    const safe = state.events.filter(isSafe);
    const aborted = r.status === "ABORTED" || safe.some((e) => e.kind === "abort" || e.kind === "abort_request");
    const trips = safe.filter((e) => e.kind === "interlock" && e.data && e.data.tripped);
    if (aborted) {
      b.className = "banner abort"; b.textContent = (r.status === "ABORTED" ? "ABORTED — " : "ABORTING — safe state: ") +
        (r.reason || (safe.find((e) => e.kind.startsWith("abort")) || {}).message || "");
    } else if (trips.length) {
      b.className = "banner safe"; b.textContent = "SAFE STATE — " + trips[trips.length - 1].message;
    } else if (r.status === "COMPLETED" || r.status === "STOPPED") {
      b.className = "banner end-" + r.status; b.textContent = r.status + " — verdict " + (r.verdict || "–") + (r.reason ? ": " + r.reason : "");
    } else { b.hidden = true; return; }
    b.hidden = false;
  }

  function renderProgress() {
    const p = state.progress || {}; const box = $("progress"); box.replaceChildren();
    const line = el("div", null, "step");
    const running = state.run.status === "RUNNING";
    if (p.current && running) line.textContent = "Step " + (p.index || "?") + " of " + p.total + ": " + p.current + (p.clauses && p.clauses.length ? "  [" + p.clauses.join(", ") + "]" : "");
    else line.textContent = (p.done || 0) + " of " + (p.total || 0) + " steps done" + (p.current && !running ? " — the run ended " + state.run.status + " in " + p.current : "");
    line.id = "current-step";
    box.append(line);
    const t = [];
    if (p.in_step_s !== null && p.in_step_s !== undefined) t.push("in step " + dur(p.in_step_s) + (p.virtual && p.in_step_wall_s !== null && p.in_step_wall_s !== undefined ? " (" + dur(p.in_step_wall_s) + " wall)" : ""));
    t.push("elapsed " + dur(p.elapsed_s) + (p.virtual ? " virtual" : " run") + " time" + (p.virtual && p.wall_elapsed_s ? " (" + dur(p.wall_elapsed_s) + " wall)" : ""));
    if (state.run.status === "RUNNING") {
      t.push("time left " + (p.unknown ? "≥ " : "≈ ") + dur(p.left_s) + (p.wall_left_s !== null && p.wall_left_s !== undefined ? " (" + dur(p.wall_left_s) + " wall at this pace)" : "") +
             (p.unknown ? " — " + p.unknown + " step(s) without an expected duration" : "") + (p.overrun ? " — step over its expected duration" : ""));
    }
    const times = el("div", t.join(" · ")); times.id = "times"; box.append(times);
    const bar = el("div", null, "bar"); const fill = el("div"); const total = p.total || 1;
    fill.style.width = Math.round(100 * (p.done || 0) / total) + "%"; bar.append(fill); box.append(bar);
  }

  function renderSteps() {
    const body = $("steps").querySelector("tbody"); body.replaceChildren();
    const order = state.planned.map((p) => p.nodeid);
    const latest = {}; for (const s of state.steps) latest[s.nodeid] = s;
    const rows = order.length ? order.slice() : [];
    for (const s of state.steps) if (!rows.includes(s.nodeid)) rows.push(s.nodeid);
    rows.forEach((nodeid, i) => {
      const s = latest[nodeid]; const plan = state.planned.find((p) => p.nodeid === nodeid) || {};
      const open = s && !s.ended_wall;
      const running = open && state.run.status === "RUNNING";
      const tr = el("tr", null, running ? "state-running" : ""); tr.dataset.nodeid = nodeid;
      const stateText = !s ? (state.run.status === "RUNNING" ? "pending" : "not run") : running ? "running" :
        open ? "cut short (run " + state.run.status + ")" : s.outcome;
      const took = s && s.ended_t !== null && s.started_t !== null ? dur(s.ended_t - s.started_t) : (plan.expected_s ? "expect " + dur(plan.expected_s) : "");
      tr.append(el("td", i + 1), el("td", s ? s.name : plan.name), el("td", ((s || plan).clauses || []).join(", ")),
                el("td", stateText, "state"), el("td", s && s.verdict && !running ? s.verdict : "", "v-" + (s && s.verdict || "NONE")), el("td", took));
      body.append(tr);
    });
  }

  function addMeasurements(rows) {
    const body = $("measurements").querySelector("tbody");
    for (const m of rows) {
      if (body.querySelector(`tr[data-id="${m.id}"]`)) continue;
      const tr = el("tr"); tr.dataset.id = m.id; tr.dataset.name = m.name;
      tr.append(el("td", dur(m.t)), el("td", stepName(m.step)), el("td", m.name), el("td", val(m), "num"), el("td", m.unit),
                el("td", m.limit), el("td", m.verdict, "verdict v-" + m.verdict), el("td", m.verdict === "PASS" ? "" : m.reason));
      body.append(tr);
    }
  }

  function renderInterlocks() {
    const body = $("interlocks").querySelector("tbody"); body.replaceChildren();
    const il = (state.live.interlocks || {}).data || {};
    for (const row of il.margins || []) {
      const frac = row.band_fraction;
      const st = row.inhibited ? "inhibited" : row.margin_value < 0 ? "EXCEEDED" : (frac !== null && frac < 0.1 ? "near" : "ok");
      const tr = el("tr", null, st === "EXCEEDED" ? "il-exceeded" : st === "near" ? "il-near" : "");
      tr.append(el("td", row.interlock + " " + row.side), el("td", row.reading), el("td", row.bound), el("td", row.margin), el("td", st));
      body.append(tr);
    }
    if (!(il.margins || []).length) { const tr = el("tr"); const td = el("td", "no interlock readings", "muted"); td.colSpan = 5; tr.append(td); body.append(tr); }
  }

  function addEvents(rows) {
    const list = $("events"); const safe = $("safe-state");
    for (const e of rows) {
      state.events.push(e);
      const li = el("li", "[" + e.kind + "] " + e.message); li.dataset.kind = e.kind; list.prepend(li);
      const text = dur(e.t) + " — " + e.message;
      // the abort request and the abort it causes carry the same words: the safe-state list shows them once
      if (isSafe(e) && !(safe.lastChild && safe.lastChild.textContent === text)) {
        const s = el("li", text, e.kind === "safe_state_failed" ? "failed" : ""); s.dataset.kind = e.kind; safe.append(s);
      }
    }
    while (list.children.length > 300) list.lastChild.remove();
  }

  const promptForms = {};
  function renderPrompts() {
    const box = $("prompts"); const open = state.requests.filter((r) => r.open);
    const ids = new Set(open.map((r) => String(r.id)));
    for (const id of Object.keys(promptForms)) if (!ids.has(id)) { promptForms[id].remove(); delete promptForms[id]; }
    if (state.run.status !== "RUNNING") return;
    for (const r of open) {
      if (promptForms[r.id]) continue;
      const form = el("form", null, "prompt"); form.dataset.request = r.id; form.dataset.key = r.key;
      form.append(el("div", r.question, "q"));
      const spec = r.spec || {}; let input;
      if (spec.choices) {
        input = el("select"); input.append(el("option", "— choose —")); input.firstChild.value = "";
        for (const c of spec.choices) { const o = el("option", c); o.value = c; input.append(o); }
      } else {
        input = el("input"); input.type = spec.type === "number" ? "number" : "text"; input.maxLength = 500;
        if (spec.type === "number") { input.step = "any"; if ("min" in spec) input.min = spec.min; if ("max" in spec) input.max = spec.max; }
        if (spec.confirm) input.placeholder = "type " + spec.confirm;
        if (spec.pattern) input.pattern = spec.pattern;
      }
      input.className = "answer"; input.name = "answer"; input.required = true;
      const btn = el("button", "Answer", "submit"); btn.type = "submit";
      const err = el("span", "", "err");
      form.append(input, " ", btn, err);
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault(); err.textContent = "";
        const who = $("who").value.trim();
        if (!who) { err.textContent = "enter your name above: it is journalled with the answer"; $("who").focus(); return; }
        if (!input.value.trim()) { err.textContent = "an answer is required"; return; }
        btn.disabled = true;
        const res = await post("/runs/" + encodeURIComponent(runId) + "/prompts/" + r.id, { answer: input.value, name: who });
        btn.disabled = false;
        if (!res.ok) err.textContent = res.error; else { err.className = "msg ok"; err.textContent = "answered — waiting for the plan"; btn.disabled = true; }
      });
      box.append(form); promptForms[r.id] = form;
    }
  }

  async function post(url, body) {
    try {
      const res = await fetch(url, { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Bench-Token": token }, body: JSON.stringify(body) });
      const data = await res.json().catch(() => ({}));
      return res.ok ? { ok: true, ...data } : { ok: false, error: data.error || (res.status + " " + res.statusText) };
    } catch (e) { return { ok: false, error: "the bench ui server did not answer: " + e }; }
  }

  $("who").value = localStorage.getItem("bench-who") || "";
  $("who").addEventListener("change", () => localStorage.setItem("bench-who", $("who").value.trim()));
  $("abort").addEventListener("click", async () => {
    const msg = $("controls-msg"); msg.className = "msg"; msg.textContent = "";
    const who = $("who").value.trim();
    if (!who) { msg.className = "msg err"; msg.textContent = "enter your name: the abort is journalled with it"; $("who").focus(); return; }
    if (!window.confirm("Abort run " + runId + "?\nThe bench goes to its safe state, the run ends ABORTED and the report is written.")) return;
    $("abort").disabled = true;
    const res = await post("/runs/" + encodeURIComponent(runId) + "/abort", { name: who, reason: $("abort-reason").value });
    if (res.ok) { msg.className = "msg ok"; msg.textContent = "abort requested — the bench is taking the safe-state path"; }
    else { msg.className = "msg err"; msg.textContent = res.error; $("abort").disabled = false; }
  });

  function renderAll() { renderHead(); renderBanner(); renderProgress(); renderSteps(); renderInterlocks(); renderPrompts(); }

  function apply(ch) {
    if (ch.run) state.run = ch.run;
    if (ch.planned) state.planned = ch.planned;
    if (ch.steps) state.steps = ch.steps;
    if (ch.live) state.live = ch.live;
    if (ch.requests) state.requests = ch.requests;
    if (ch.progress) state.progress = ch.progress;
    if (ch.report !== undefined) state.report = ch.report;
    if (ch.events && ch.events.length) addEvents(ch.events);
    if (ch.measurements && ch.measurements.length) addMeasurements(ch.measurements);
    renderAll();
  }

  function plots(svgs) {
    const box = $("plots"); const none = $("no-plots"); if (none) none.remove();
    for (const [name, svg] of Object.entries(svgs)) {
      let fig = box.querySelector(`figure[data-series="${CSS.escape(name)}"]`);
      if (!fig) { fig = el("figure"); fig.dataset.series = name; fig.append(el("h3", name), el("div", null, "svg")); box.append(fig); }
      // The SVG is drawn by the bench's own report code (bench/report/figures.py on bench/plotting) from journal values, escaped there.
      fig.querySelector(".svg").innerHTML = svg;
    }
  }

  addEvents(boot.events || []); addMeasurements(boot.measurements || []); renderAll();
  const es = new EventSource("/runs/" + encodeURIComponent(runId) + "/stream");
  es.addEventListener("state", (ev) => { const d = JSON.parse(ev.data); state.events = []; $("events").replaceChildren(); $("safe-state").replaceChildren(); apply(d); });
  es.addEventListener("update", (ev) => apply(JSON.parse(ev.data)));
  es.addEventListener("report", (ev) => { state.report = JSON.parse(ev.data).report; renderHead(); });
  es.addEventListener("plots", (ev) => plots(JSON.parse(ev.data)));
  window.benchState = state;
})();
