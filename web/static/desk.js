"use strict";
(() => {
  const { el, clock, api } = Hotline;
  const me = document.getElementById("me");
  const stateName = (s) => me.dataset["state" + s.split("_").map((p) => p[0].toUpperCase() + p.slice(1)).join("")] || s;
  const form = document.getElementById("case-form");
  let openCase = null, openLinkedid = null;

  for (const b of me.querySelectorAll("button[data-action]")) {
    b.onclick = () => {
      const action = b.dataset.action;
      const reason = document.getElementById("pause-reason").value;
      api("POST", `/api/v1/agents/${document.body.dataset.extension}/state`, { action, reason }).catch((e) => alert(e.message));
    };
  }

  async function loadDesk() {
    const desk = await api("GET", "/api/v1/desk");
    const c = desk.case;
    openCase = c ? c.number : null;
    document.getElementById("case-number").textContent = openCase || "";
    document.getElementById("call-line").textContent = desk.call ? `${desk.call.caller} · ${desk.call.topic || ""}` : document.getElementById("call-card").dataset.tNone;
    form.hidden = !c;
    if (c) {
      form.category.value = c.category || ""; form.notes.value = c.notes || ""; form.status.value = c.status || "new";
      form.follow_up.value = c.follow_up ? c.follow_up.slice(0, 10) : "";
    }
    document.getElementById("earlier").replaceChildren(...desk.earlier.map((e) =>
      el("li", {}, el("a", { href: `/cases/${e.number}` }, e.number), ` ${Hotline.localTime(e.started_at)} · ${[e.topic, e.outcome, e.status].filter(Boolean).join(" · ")}`)));
    showRequests(desk);
  }

  // The caller's open requests (a repeat caller): link this call to one, or open a new one from it.
  const requestCard = document.getElementById("request-card");
  const requestForm = document.getElementById("request-form");
  function showRequests(desk) {
    requestCard.hidden = !desk.case;
    document.getElementById("request-opened").hidden = true;
    document.getElementById("open-requests").replaceChildren(...(desk.requests || []).map((r) => {
      const button = el("button", { type: "button", "data-link": r.number }, requestCard.dataset.tLink);
      button.onclick = async () => {
        await api("POST", `/api/v1/requests/${r.number}/calls`, { case: openCase });
        button.replaceWith(requestCard.dataset.tLinked);
      };
      return el("li", { "data-request": r.number }, el("a", { href: `/requests/${r.number}` }, r.number), ` · ${r.topic} · `, button);
    }));
  }
  // What the words suggest, learned from the requests answered before: shown, never chosen for the agent.
  const hint = document.getElementById("request-hint");
  let hintTimer = 0;
  requestForm.words.addEventListener("input", () => {
    clearTimeout(hintTimer);
    hintTimer = setTimeout(async () => {
      const words = requestForm.words.value.trim();
      if (words.length < 12) { hint.hidden = true; return; }
      const s = await api("POST", "/api/v1/requests/suggest", { words, ward: requestForm.ward.value });
      const topic = (s.topics || [])[0];
      const agency = (s.agencies || [])[0];
      if (!topic) { hint.hidden = true; return; }
      const use = el("button", { type: "button", "data-topic": topic.name }, hint.dataset.tUse);
      use.onclick = () => { requestForm.topic.value = topic.name; };
      hint.replaceChildren(`${hint.dataset.tSuggested}: ${topic.label}` + (agency ? ` · ${agency.label}` : "") + " ", use);
      hint.hidden = false;
    }, 400);
  });
  requestForm.onsubmit = async (event) => {
    event.preventDefault();
    if (!openCase) return;
    const r = await api("POST", "/api/v1/requests", {
      case: openCase, topic: requestForm.topic.value, priority: requestForm.priority.value, words: requestForm.words.value,
      district: requestForm.district.value, ward: requestForm.ward.value, anonymous: requestForm.anonymous.checked,
    });
    const opened = document.getElementById("request-opened");
    const link = opened.querySelector("a");
    link.href = `/requests/${r.number}`; link.textContent = r.number;
    opened.hidden = false;
    // The open requests it may repeat: the agent opens one to merge it there, one problem one request.
    const same = document.getElementById("request-duplicates");
    same.replaceChildren(...(r.duplicates || []).map((d) => el("li", { "data-request": d.number },
      el("a", { href: `/requests/${r.number}#duplicates` }, d.number), ` · ${d.ward} · ${d.words}`)));
    same.hidden = !(r.duplicates || []).length;
    requestForm.reset();
  };

  form.onsubmit = async (event) => {
    event.preventDefault();
    if (!openCase) return;
    await api("POST", `/api/v1/cases/${openCase}`, {
      category: form.category.value, notes: form.notes.value, status: form.status.value, follow_up: form.follow_up.value || null,
    });
    document.getElementById("saved").hidden = false;
    setTimeout(() => { document.getElementById("saved").hidden = true; }, 3000);
  };

  Hotline.connect((board) => {
    const a = board.me;
    document.getElementById("my-state").textContent = a ? stateName(a.state) + (a.pause_reason ? ` (${a.pause_reason})` : "") : "–";
    document.getElementById("my-state").dataset.state = a ? a.state : "";
    document.getElementById("my-time").textContent = a ? clock(a.in_state) : "";
    document.getElementById("queues-line").textContent = board.queues.map((q) => `${q.label}: ${q.waiting}`).join(" · ");
    // The case opens by itself when a call reaches this agent (its case row appears a moment later).
    const linkedid = a && a.call && (a.state === "in_call" || a.state === "on_hold") ? a.call.linkedid : null;
    if (linkedid !== openLinkedid || (linkedid && !openCase)) {
      openLinkedid = linkedid;
      loadDesk().catch(() => {});
    }
  }, () => {});
  loadDesk().catch(() => {});
})();
