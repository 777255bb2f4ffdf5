// Progressive enhancement: every page works without it (reload to see what
// changed). With it, the operations page and an operation's page follow the
// journal over Server-Sent Events, and the logs page follows new lines with
// a bounded list and a Pause/Resume button.
"use strict";
(function () {
  // The operations table: new operations and their progress.
  const table = document.getElementById("ops");
  if (table && window.EventSource) {
    const live = document.getElementById("live");
    const tbody = table.tBodies[0];
    const after = table.dataset.after || "";
    const src = new EventSource("/operations/events" + (after ? "?after=" + encodeURIComponent(after) : ""));
    src.onmessage = function (m) {
      const e = JSON.parse(m.data);
      let row = document.getElementById("op-" + e.op);
      if (!row) {
        row = tbody.insertRow(0);
        row.id = "op-" + e.op;
        const time = row.insertCell();
        const a = document.createElement("a");
        a.href = "/operations/" + encodeURIComponent(e.op);
        const t = document.createElement("time");
        t.dateTime = e.time;
        t.textContent = new Date(e.time).toLocaleString();
        a.appendChild(t);
        time.appendChild(a);
        row.insertCell().textContent = e.command;
        const app = document.createElement("th");
        app.scope = "row";
        app.textContent = e.app;
        row.appendChild(app);
        row.insertCell().textContent = table.dataset.origin || "";
        const r = row.insertCell();
        r.className = "result";
      }
      const result = row.querySelector(".result");
      if (e.kind === "end") {
        result.textContent = e.error ? "✗ " + e.error : "✓ " + (table.dataset.ok || "");
        live.textContent = e.command + " " + e.app + ": " + (e.error ? "✗ " + e.error : "✓");
      } else if (e.kind === "started") {
        result.textContent = "… " + (table.dataset.running || "") + " " + e.step;
      }
    };
  }

  // One operation: its steps as they run; at the end the verified result,
  // rendered by the server (the page's JSON), into the polite live region.
  const steps = document.getElementById("steps");
  if (steps && window.EventSource && steps.dataset.ended !== "true") {
    const id = steps.dataset.op;
    const after = steps.dataset.after || "";
    const src = new EventSource("/operations/events" + (after ? "?after=" + encodeURIComponent(after) : ""));
    const stepItem = function (name) {
      for (const li of steps.children) {
        if (li.dataset.step === name) return li;
      }
      const li = document.createElement("li");
      li.dataset.step = name;
      const st = document.createElement("span");
      st.className = "status status-running";
      st.textContent = steps.dataset.running;
      const n = document.createElement("span");
      n.className = "name";
      n.textContent = name;
      li.append(st, " ", n);
      steps.appendChild(li);
      return li;
    };
    src.onmessage = function (m) {
      const e = JSON.parse(m.data);
      if (e.op !== id) return;
      if (e.kind === "started") {
        stepItem(e.step);
      } else if (e.kind === "finished") {
        const li = stepItem(e.step);
        const st = li.querySelector(".status");
        st.className = "status status-" + (e.error ? "failed" : "ok");
        st.textContent = e.error ? steps.dataset.failed : steps.dataset.ok;
        if (e.error) li.append(": " + e.error);
      } else if (e.kind === "note") {
        const li = stepItem(e.step);
        let ul = li.querySelector("ul");
        if (!ul) {
          ul = document.createElement("ul");
          li.appendChild(ul);
        }
        const n = document.createElement("li");
        n.textContent = e.message;
        ul.appendChild(n);
      } else if (e.kind === "end") {
        src.close();
        steps.dataset.ended = "true";
        fetch("/operations/" + encodeURIComponent(id), { headers: { "Accept": "text/html" } })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            const doc = new DOMParser().parseFromString(html, "text/html");
            const fresh = doc.getElementById("result");
            const result = document.getElementById("result");
            if (fresh && result) {
              result.dataset.outcome = fresh.dataset.outcome || "";
              result.replaceChildren(...Array.from(fresh.childNodes).map(function (n) { return document.importNode(n, true); }));
            }
          });
      }
    };
  }

  // Logs: follow new lines, keep the last maxLines in the list; paused,
  // lines are counted and kept (up to maxLines) until Resume.
  const log = document.getElementById("log");
  if (log && window.EventSource && log.dataset.events) {
    const maxLines = Number(log.dataset.cap) || 1000;
    const pause = document.getElementById("pause");
    const status = document.getElementById("log-status");
    let paused = false;
    let pending = [];
    let missed = 0;
    const append = function (l) {
      const li = document.createElement("li");
      const svc = document.createElement("span");
      svc.className = "svc";
      svc.textContent = l.service;
      li.append(svc, " | " + l.text);
      log.appendChild(li);
      while (log.children.length > maxLines) log.removeChild(log.firstElementChild);
    };
    pause.hidden = false;
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? pause.dataset.resume : pause.dataset.pause;
      if (!paused) {
        pending.forEach(append);
        pending = [];
        missed = 0;
        status.textContent = status.dataset.live;
      }
    });
    const src = new EventSource(log.dataset.events);
    let marked = false;
    src.onopen = function () {
      // A line after the server-rendered ones says the list is live now.
      if (marked) return;
      marked = true;
      const li = document.createElement("li");
      li.className = "marker";
      li.textContent = "— " + status.dataset.live + " —";
      log.appendChild(li);
    };
    src.onmessage = function (m) {
      const l = JSON.parse(m.data);
      if (paused) {
        missed++;
        pending.push(l);
        if (pending.length > maxLines) pending.shift();
        status.textContent = status.dataset.new.replace("{0}", String(missed));
        return;
      }
      append(l);
    };
  }
})();
