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
        el("li", { "data-linkedid": w.linkedid, class: w.callback ? "callback" : "" },
          `${w.callback ? T.tCallback + " · " : ""}${w.caller} · ${clock(w.waited)}`)));
      return el("div", { class: "card queue", "data-queue": q.name },
        el("h3", {}, q.label),
        el("div", { class: "big" + (q.waiting.length && !q.available ? " alert" : ""), "data-field": "waiting" }, String(q.waiting.length)),
        el("div", { class: "stats" },
          el("span", {}, T.tLongest), el("b", { "data-field": "longest" }, clock(q.longest_wait)),
          el("span", {}, T.tCallbacks), el("b", { "data-field": "callbacks" }, String(q.callbacks ?? 0)),
          el("span", {}, T.tAnswered), el("b", {}, String(today.answered ?? 0)),
          el("span", {}, T.tAbandoned), el("b", {}, String(today.abandoned ?? 0)),
          el("span", {}, `${T.tSl} (${T.sl} s)`), el("b", {}, today.service_level == null ? "–" : `${today.service_level} %`),
          el("span", {}, T.tAsa), el("b", {}, today.average_answer == null ? "–" : `${today.average_answer} s`),
          el("span", {}, T.tRating), el("b", { "data-field": "rating" },
            today.average_rating == null ? "–" : `${today.average_rating} / 5 (${today.ratings})`)),
        callers);
    }));
  }

  function button(label, onClick) { const b = el("button", { type: "button" }, label); b.onclick = onClick; return b; }

  function act(path, body) {
    Hotline.api("POST", path, body).catch((e) => { document.getElementById("status").textContent = e.message; });
  }

  // Rows stay in place between pushes and their buttons are rebuilt only when the agent's state changes:
  // a button replaced under the pointer would swallow the supervisor's click.
  const rows = new Map();
  function actionsFor(a) {
    const call = a.call;
    const cell = el("td", { class: "actions" });
    const state = (action, extra) => () => act(`/api/v1/agents/${a.extension}/state`, { action, ...extra });
    if (call && (a.state === "in_call" || a.state === "on_hold")) {
      for (const mode of ["listen", "whisper", "barge"]) {
        const b = button(A["t" + mode[0].toUpperCase() + mode.slice(1)], () => act(`/api/v1/agents/${a.extension}/spy`, { mode }));
        b.dataset.action = mode;
        cell.append(b);
      }
    }
    if (a.state === "logged_out") cell.append(button(A.tLogin, state("login")));
    else {
      cell.append(a.paused ? button(A.tUnpause, state("unpause")) : button(A.tPause, state("pause", { reason: "supervisor" })));
      cell.append(button(A.tLogout, state("logout")));
    }
    return cell;
  }

  // Each agent's time paused today, from Asterisk's queue_log (read by the server every 30 s at most).
  let agentsToday = {};
  const pausedToday = (ext) => (agentsToday[ext] && agentsToday[ext].paused ? clock(agentsToday[ext].paused) : "");
  async function readToday() {
    try {
      const answer = await fetch("/api/v1/agents/today", { credentials: "same-origin" });
      if (answer.ok) agentsToday = (await answer.json()).agents;
      for (const [ext, row] of rows) row.cells[6].textContent = pausedToday(ext);
    } catch (e) { /* the next round */ }
  }
  if (agentsEl.dataset.pausedToday === "yes") { readToday(); setInterval(readToday, 60000); }

  function renderAgents(board) {
    const body = agentsEl.tBodies[0];
    const seen = new Set();
    for (const a of board.agents) {
      seen.add(a.extension);
      let row = rows.get(a.extension);
      if (!row) {
        row = el("tr", { "data-agent": a.extension }, el("td", {}), el("td", {}), el("td", {}),
          el("td", { "data-field": "caller" }), el("td", {}), el("td", { class: "actions" }),
          el("td", { "data-field": "paused-today" }, pausedToday(a.extension)));
        rows.set(a.extension, row);
        body.append(row);
      }
      const call = a.call;
      const [name, state, time, caller, caseCell] = row.cells;
      name.textContent = `${a.name} (${a.extension})`;
      state.replaceChildren(el("span", { class: "state " + a.state }, stateName(a.state)), a.pause_reason ? ` ${a.pause_reason}` : "");
      time.textContent = clock(a.in_state);
      caller.textContent = call ? call.caller : "";
      const number = call && call.number ? call.number : "";
      if (caseCell.dataset.number !== number) {
        caseCell.dataset.number = number;
        caseCell.replaceChildren(number ? el("a", { href: `/cases/${number}` }, number) : "");
      }
      const signature = [a.state, a.paused, call ? call.linkedid : ""].join("|");
      if (row.dataset.signature !== signature) {
        row.dataset.signature = signature;
        row.cells[5].replaceWith(actionsFor(a));
      }
      row.dataset.state = a.state;
    }
    for (const [ext, row] of rows) if (!seen.has(ext)) { row.remove(); rows.delete(ext); }
  }

  // Several Asterisk nodes: each one's state as the center follows it, and the calls it holds.
  const nodesEl = document.getElementById("nodes");
  function renderNodes(board) {
    const nodes = board.nodes || [];
    nodesEl.hidden = nodes.length === 0;
    nodesEl.replaceChildren(el("span", {}, nodesEl.dataset.tNodes), ...nodes.map((n) =>
      el("span", { class: "node " + n.state, "data-node": n.name },
        `${n.name}: ${nodesEl.dataset["tNode" + n.state[0].toUpperCase() + n.state.slice(1)] || n.state}` +
        ` ${clock(n.for_seconds)} · ${n.calls}`)));
  }

  Hotline.connect((board) => {
    window.lastBoard = board;
    document.getElementById("asterisk-banner").hidden = board.asterisk !== false;
    renderNodes(board);
    renderQueues(board);
    renderAgents(board);
  }, (s) => { document.getElementById("status").textContent = s ? T.tLost : ""; });
})();
