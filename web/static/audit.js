"use strict";
// The filters of the page's form (in its address) go to the API as they are; the export link carries them.
const query = location.search || "?";
document.getElementById("audit-export").href = "/api/v1/audit.csv" + query;
fetch("/api/v1/audit" + query, { credentials: "same-origin" }).then((r) => r.json()).then((rows) => {
  const body = document.querySelector("#audit tbody");
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const v of [Hotline.localTime(r.at), r.actor, r.action, r.target, JSON.stringify(r.detail)]) {
      const td = document.createElement("td"); td.textContent = v; tr.append(td);
    }
    body.append(tr);
  }
});
