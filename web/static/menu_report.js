"use strict";
(() => {
  const box = document.getElementById("menu-report");
  const T = box.dataset;
  const cell = (tag, text) => { const c = document.createElement(tag); c.textContent = text ?? "–"; return c; };
  function fill(id, heads, rows) {
    const head = document.createElement("tr");
    for (const h of heads) head.append(cell("th", h));
    document.getElementById(id).replaceChildren(head, ...rows.map((values) => {
      const tr = document.createElement("tr");
      for (const v of values) tr.append(cell("td", v));
      return tr;
    }));
  }
  fetch(`/api/v1/reports/menu?from=${T.from}&to=${T.to}`, { credentials: "same-origin" }).then((r) => r.json()).then((data) => {
    fill("per-node", [T.tNode, T.tEntered, T.tHungUp, T.tMovedOn, T.tTimedOut, T.tInvalid, T.tFailed, T.tSeconds],
      data.per_node.map((n) => [n.node, n.entered, n.hung_up_share == null ? n.hung_up : `${n.hung_up} (${n.hung_up_share} %)`,
        n.moved_on, n.timed_out, n.invalid, n.failed, n.average_seconds]));
    fill("abandoned-after", [T.tQueue, T.tAbandoned, T.tAsa, ...data.bands],
      data.abandoned_per_queue.map((q) => [q.queue, q.abandoned, q.average_wait, ...data.bands.map((b) => q[b])]));
    if (window.Chart) {
      new Chart(document.getElementById("chart-menu"), {
        type: "bar",
        data: {
          labels: data.per_node.map((n) => n.node),
          datasets: [
            { label: T.tMovedOn, data: data.per_node.map((n) => n.moved_on), backgroundColor: "#1e7a3c" },
            { label: T.tHungUp, data: data.per_node.map((n) => n.hung_up), backgroundColor: "#b3261e" },
          ],
        },
        options: { animation: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
      });
      box.dataset.chart = "drawn";
    }
    box.dataset.loaded = "yes";
  });
})();
