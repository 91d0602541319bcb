"use strict";
// The requests of a period by ward: every ward of the province as a disc of its area at its centre (no
// boundaries, no tile server needed), coloured by how many requests it had, ringed red where some are
// overdue; the site's tile server underneath when it has one. The same figures fill the table below.
(() => {
  const box = document.getElementById("ward-map");
  if (!box) return;
  const table = document.getElementById("ward-table");
  const colour = (n, most) => {
    if (!n) return "#d8dee4";
    const share = Math.sqrt(n / most); // a few requests still show; the busiest ward is the darkest
    return `hsl(28, 90%, ${Math.round(80 - share * 45)}%)`;
  };
  const cell = (text) => Object.assign(document.createElement("td"), { textContent: String(text) });
  fetch(box.dataset.src, { credentials: "same-origin" }).then((r) => r.json()).then((data) => {
    const wards = data.wards;
    const most = Math.max(1, ...wards.map((w) => w.received));
    const busy = wards.filter((w) => w.received).sort((a, b) => b.received - a.received);
    table.tBodies[0].replaceChildren(...busy.map((w) => {
      const row = document.createElement("tr");
      row.dataset.ward = w.code;
      if (w.overdue) row.className = "overdue";
      row.append(cell(w.name), cell(w.received), cell(w.open), cell(w.overdue), cell(w.answered), cell(w.not_fixed));
      return row;
    }));
    table.hidden = false;
    box.dataset.wards = String(wards.length);
    if (!window.L || !wards.length) return;
    const map = L.map(box, { preferCanvas: false, zoomSnap: 0.25 });
    // The view first: a circle is placed on the map's pixels, which need the map's view.
    const bounds = L.latLngBounds(wards.map((w) => L.latLng(w.lat, w.lon).toBounds(2 * w.radius_m)));
    map.fitBounds(bounds, { padding: [8, 8] });
    if (data.tiles) L.tileLayer(data.tiles, { attribution: data.attribution, maxZoom: 18 }).addTo(map);
    wards.forEach((w) => {
      const disc = L.circle([w.lat, w.lon], {
        radius: w.radius_m,
        color: w.overdue ? "#b00020" : "#6b7680",
        weight: w.overdue ? 3 : 1,
        fillColor: colour(w.received, most),
        fillOpacity: w.received ? 0.75 : 0.35,
        className: `ward ward-${w.code}${w.overdue ? " ward-overdue" : ""}`,
      });
      const d = box.dataset;
      disc.bindTooltip(`${w.name}: ${d.tReceived} ${w.received} · ${d.tOpen} ${w.open} · ${d.tOverdue} ${w.overdue}`);
      disc.addTo(map);
    });
    box.dataset.drawn = "yes";
  });
})();
