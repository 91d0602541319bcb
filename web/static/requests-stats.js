"use strict";
// The ranking as a bar chart: each agency's share answered on time, from the table the page carries.
(() => {
  const canvas = document.getElementById("chart-agencies");
  if (!canvas || !window.Chart) return;
  const rows = [...document.querySelectorAll("#per-agency tr[data-agency]")].filter((r) => r.dataset.share !== "");
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: rows.map((r) => r.dataset.label),
      datasets: [{ label: canvas.dataset.label, data: rows.map((r) => Math.round(Number(r.dataset.share) * 1000) / 10),
        backgroundColor: rows.map((r) => (r.classList.contains("mine") ? "#0b57d0" : "#1e7a3c")) }],
    },
    options: { animation: false, indexAxis: "y", scales: { x: { min: 0, max: 100 } } },
  });
})();
