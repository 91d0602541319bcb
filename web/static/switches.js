"use strict";
(() => {
  const error = document.getElementById("switch-error");
  const fail = (e) => { error.textContent = e.message; error.hidden = false; };
  async function post(path, body) {
    const response = await fetch(path, { method: "POST", body, credentials: "same-origin", headers: { "X-CSRF-Token": Hotline.csrf } });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }
  document.getElementById("announcement-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    try { await post("/api/v1/switches/announcement", new FormData(ev.target)); location.reload(); } catch (e) { fail(e); }
  });
  document.getElementById("announcement-off").addEventListener("click", async () => {
    try { await Hotline.api("POST", "/api/v1/switches/announcement/off"); location.reload(); } catch (e) { fail(e); }
  });
  document.getElementById("hours-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    const mode = ev.submitter ? ev.submitter.value : "auto";
    try { await Hotline.api("POST", "/api/v1/switches/hours", { mode, until: ev.target.until.value }); location.reload(); } catch (e) { fail(e); }
  });
  document.getElementById("pin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    try { await Hotline.api("POST", "/api/v1/me/phone-pin", { pin: ev.target.pin.value }); ev.target.reset(); document.getElementById("pin-saved").hidden = false; } catch (e) { fail(e); }
  });
})();
