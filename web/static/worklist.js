"use strict";
(() => {
  const box = document.getElementById("worklist");
  const T = box.dataset;
  const results = ["reached", "no_answer", "wrong_number"];
  const label = (key) => T["t" + key.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("")];
  const status = (key) => T["status" + key.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("")] || key;
  const cell = (text) => { const td = document.createElement("td"); td.textContent = text ?? "–"; return td; };
  const error = document.getElementById("worklist-error");
  function failed(e) { error.textContent = e.message; error.hidden = false; }
  function button(text, action, onClick) {
    const b = document.createElement("button");
    b.textContent = text; b.dataset.action = action; b.addEventListener("click", onClick);
    return b;
  }
  function row(e) {
    const tr = document.createElement("tr");
    tr.dataset.id = e.id; tr.dataset.status = e.status;
    tr.append(cell(e.caller), cell(e.topic), cell(e.outcome), cell(e.calls), cell(Hotline.localTime(e.last_at)),
      cell(`${e.tries}/${e.most_tries}${e.last_result ? " · " + (label(e.last_result) || e.last_result) : ""}`), cell(status(e.status)));
    const actions = document.createElement("td");
    if (e.voicemail_case) {
      const audio = document.createElement("audio");
      audio.controls = true; audio.preload = "none"; audio.src = `/api/v1/worklist/${e.id}/voicemail`; audio.title = T.tMessage;
      actions.append(audio);
    }
    if (e.status === "open") {
      actions.append(button(T.tCall, "call", async (ev) => {
        ev.target.disabled = true; ev.target.textContent = T.tCalling; error.hidden = true;
        try { await Hotline.api("POST", `/api/v1/worklist/${e.id}/call`); } catch (err) { failed(err); ev.target.disabled = false; ev.target.textContent = T.tCall; }
      }));
      for (const r of results) {
        actions.append(button(label(r), r, async () => {
          error.hidden = true;
          try { await Hotline.api("POST", `/api/v1/worklist/${e.id}/result`, { result: r }); await load(); } catch (err) { failed(err); }
        }));
      }
    }
    tr.append(actions);
    return tr;
  }
  async function load() {
    const data = await Hotline.api("GET", "/api/v1/worklist");
    box.querySelector("tbody").replaceChildren(...data.entries.map(row));
    box.dataset.loaded = "yes";
  }
  load().catch(failed);
  setInterval(() => { if (!box.querySelector("button:disabled")) load().catch(failed); }, 15000);
})();
