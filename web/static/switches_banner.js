"use strict";
// On the wallboard: what a supervisor switched on for an emergency, so nobody forgets it is on.
(() => {
  const banner = document.getElementById("switches-banner");
  const T = banner.dataset;
  async function show() {
    const s = await Hotline.api("GET", "/api/v1/switches");
    const lines = [];
    if (s.announcement) lines.push(`${T.tAnnouncement} → ${Hotline.localTime(s.announcement_until)}${s.announcement_text ? ": " + s.announcement_text : ""}`);
    if (s.hours) lines.push(`${s.hours === "open" ? T.tOpen : T.tClosed} → ${Hotline.localTime(s.hours_until)}`);
    banner.textContent = lines.join(" · ");
    banner.hidden = lines.length === 0;
    banner.dataset.loaded = "yes";
  }
  show().catch(() => {});
  setInterval(() => show().catch(() => {}), 10000);
})();
