"use strict";
(() => {
  const queuesEl = document.getElementById("queues");
  const agentsEl = document.getElementById("agents");
  const T = queuesEl.dataset, A = agentsEl.dataset;
  const stateName = (s) => A["state" + s.split("_").map((p) => p[0].toUpperCase() + p.slice(1)).join("")] || s;
  const { el, clock } = Hotline;
  window.lastBoard = null;

  function renderQueues(board) {
    queuesEl.replaceChildren(...board.queues.map((q) => {
      const today = board.today[q.name] || {};
      const callers = el("ol", { class: "callers" }, ...q.waiting.map((w) =>
        el("li", { "data-linkedid": w.linkedid }, `${w.caller} · ${clock(w.waited)}`)));
      return el("div", { class: "card queue", "data-queue": q.name },
        el("h3", {}, q.label),
        el("div", { class: "big" + (q.waiting.length && !q.available ? " alert" : ""), "data-field": "waiting" }, String(q.waiting.length)),
        el("div", { class: "stats" },
          el("span", {}, T.tLongest), el("b", { "data-field": "longest" }, clock(q.longest_wait)),
          el("span", {}, T.tAnswered), el("b", {}, String(today.answered ?? 0)),
          el("span", {}, T.tAbandoned), el("b", {}, String(today.abandoned ?? 0)),
          el("span", {}, `${T.tSl} (${T.sl} s)`), el("b", {}, today.service_level == null ? "–" : `${today.service_level} %`),
          el("span", {}, T.tAsa), el("b", {}, today.average_answer == null ? "–" : `${today.average_answer} s`)),
        callers);
    }));
  }

  function button(label, onClick) { const b = el("button", { type: "button" }, label); b.onclick = onClick; return b; }

  function act(path, body) {
    Hotline.api("POST", path, body).catch((e) => { document.getElementById("status").textContent = e.message; });
  }

  function renderAgents(board) {
    agentsEl.tBodies[0].replaceChildren(...board.agents.map((a) => {
      const call = a.call;
      const actions = el("td", { class: "actions" });
      if (call && (a.state === "in_call" || a.state === "on_hold")) {
        for (const mode of ["listen", "whisper", "barge"]) {
          actions.append(button(A["t" + mode[0].toUpperCase() + mode.slice(1)], () => act(`/api/v1/agents/${a.extension}/spy`, { mode })));
        }
      }
      if (a.state === "logged_out") actions.append(button(A.tLogin, () => act(`/api/v1/agents/${a.extension}/state`, { action: "login" })));
      else {
        actions.append(a.paused
          ? button(A.tUnpause, () => act(`/api/v1/agents/${a.extension}/state`, { action: "unpause" }))
          : button(A.tPause, () => act(`/api/v1/agents/${a.extension}/state`, { action: "pause", reason: "supervisor" })));
        actions.append(button(A.tLogout, () => act(`/api/v1/agents/${a.extension}/state`, { action: "logout" })));
      }
      const caseCell = el("td", {});
      if (call && call.number) caseCell.append(el("a", { href: `/cases/${call.number}` }, call.number));
      return el("tr", { "data-agent": a.extension, "data-state": a.state },
        el("td", {}, `${a.name} (${a.extension})`),
        el("td", {}, el("span", { class: "state " + a.state }, stateName(a.state)), a.pause_reason ? ` ${a.pause_reason}` : ""),
        el("td", {}, clock(a.in_state)),
        el("td", { "data-field": "caller" }, call ? call.caller : ""),
        caseCell,
        actions);
    }));
  }

  Hotline.connect((board) => {
    window.lastBoard = board;
    renderQueues(board);
    renderAgents(board);
  }, (s) => { document.getElementById("status").textContent = s ? T.tLost : ""; });
})();
