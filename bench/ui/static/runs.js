// Run list: refresh status, verdict, report and signature cells while runs are going on.
"use strict";
(function () {
  const table = document.getElementById("runs");
  if (!table) return;
  function cell(text, cls) { const s = document.createElement("span"); s.textContent = text || ""; if (cls) s.className = cls; return s; }
  async function refresh() {
    try {
      const res = await fetch("/runs.json" + window.location.search, { credentials: "same-origin" });
      if (!res.ok) return;
      const data = await res.json();
      for (const r of data.runs) {
        const tr = table.querySelector(`tr[data-run="${CSS.escape(r.run_id)}"]`);
        if (!tr) { if (!document.hidden) { window.location.reload(); } return; }
        const tds = tr.querySelectorAll("td");
        tds[4].replaceChildren(cell(r.status, "badge s-" + r.status));
        tds[5].replaceChildren(cell(r.verdict, "badge v-" + (r.verdict || "NONE")));
        if (r.report) { const a = document.createElement("a"); a.href = r.report; a.textContent = "report"; tds[7].replaceChildren(a); }
        const sig = cell(r.signature, "sig sig-" + r.signature.replace(/ /g, "-")); sig.title = r.signature_detail || "";
        tds[8].replaceChildren(sig);
      }
    } catch (e) { /* server restarting: try again later */ }
  }
  setInterval(refresh, 3000);
})();
