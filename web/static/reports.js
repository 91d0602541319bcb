"use strict";
(() => {
  const box = document.getElementById("report");
  const T = box.dataset;
  const cell = (tag, text) => { const c = document.createElement(tag); c.textContent = text ?? "–"; return c; };
  function table(id, rows, key) {
    const t = document.getElementById(id);
    const head = document.createElement("tr");
    for (const h of [key, T.tOffered, T.tAnswered, T.tAbandoned, T.tSl, T.tAsa, T.tAht, T.tRating]) head.append(cell("th", h));
    t.replaceChildren(head, ...rows.map((r) => {
      const tr = document.createElement("tr");
      for (const v of [r.name ? `${r.name} (${r.agent})` : r[key], r.offered, r.answered, r.abandoned,
        r.service_level == null ? null : r.service_level + " %", r.average_answer, r.average_handle,
        r.average_rating == null ? null : `${r.average_rating} (${r.ratings})`]) tr.append(cell("td", v));
      return tr;
    }));
  }
  fetch(`/api/v1/reports?from=${T.from}&to=${T.to}`, { credentials: "same-origin" }).then((r) => r.json()).then((data) => {
    const totals = document.getElementById("totals");
    const t = data.total;
    for (const [label, value] of [[T.tOffered, t.offered], [T.tAnswered, t.answered], [T.tAbandoned, t.abandoned],
      [T.tSl, t.service_level == null ? "–" : t.service_level + " %"], [T.tAsa, t.average_answer == null ? "–" : t.average_answer + " s"],
      [T.tAht, t.average_handle == null ? "–" : t.average_handle + " s"],
      [T.tRating, t.average_rating == null ? "–" : `${t.average_rating} / 5 (${t.ratings})`]]) {
      const card = document.createElement("div"); card.className = "card";
      card.append(cell("div", label), cell("strong", String(value)));
      totals.append(card);
    }
    table("per-topic", data.per_topic, "topic");
    table("per-agent", data.per_agent, "agent");
    if (window.Chart) {
      new Chart(document.getElementById("chart-hour"), {
        type: "bar",
        data: {
          labels: data.per_hour.map((h) => `${h.hour}h`),
          datasets: [
            { label: T.tAnswered, data: data.per_hour.map((h) => h.answered), backgroundColor: "#1e7a3c" },
            { label: T.tAbandoned, data: data.per_hour.map((h) => h.abandoned), backgroundColor: "#b3261e" },
          ],
        },
        options: { animation: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
      });
      box.dataset.chart = "drawn";
    }
    box.dataset.loaded = "yes";
  });
})();
