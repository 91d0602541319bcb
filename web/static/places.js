"use strict";
// A place typed as people say it: the wards it may mean (2025 names and the older ones) are offered as the
// field's suggestions, and the one picked goes in the hidden field named by data-ward-field. A shared
// position suggests its ward when the field is still empty. Without script the typed text is sent and the
// server finds the ward from it.
(() => {
  for (const input of document.querySelectorAll("input[data-wards]")) {
    const form = input.form;
    const code = form.querySelector(`[name="${input.dataset.wardField}"]`);
    const list = document.createElement("datalist");
    list.id = `${input.name}-wards`;
    input.after(list);
    input.setAttribute("list", list.id);
    input.autocomplete = "off";
    const known = new Map(); // every label offered so far, to its ward's code
    let timer = 0;
    const pick = () => {
      if (code) code.value = known.get(input.value) || "";
    };
    const offer = (found) => {
      for (const s of found) known.set(s.label, s.code);
      list.replaceChildren(...found.map((s) => Object.assign(document.createElement("option"), { value: s.label })));
      pick();
    };
    input.addEventListener("input", () => {
      pick();
      clearTimeout(timer);
      const q = input.value.trim();
      if (q.length < 2 || known.has(input.value)) return;
      timer = setTimeout(async () => {
        const answer = await fetch(`/places/wards?q=${encodeURIComponent(q)}`);
        if (answer.ok && input.value.trim() === q) offer(await answer.json());
      }, 150);
    });
    const lat = form.querySelector("[name=latitude]");
    const lon = form.querySelector("[name=longitude]");
    const near = async () => {
      if (!lat || !lon || !lat.value || !lon.value || input.value.trim()) return;
      const answer = await fetch(`/places/nearest?lat=${encodeURIComponent(lat.value)}&lon=${encodeURIComponent(lon.value)}`);
      const ward = answer.ok ? await answer.json() : null;
      if (ward && !input.value.trim()) {
        offer([ward]);
        input.value = ward.label;
        pick();
      }
    };
    lat?.addEventListener("change", near);
    lon?.addEventListener("change", near);
    form.addEventListener("position", near);
  }
})();
