// Shared by the wallboard and the agent desk: the live board over WebSocket (reconnecting) and the JSON
// API with the session's CSRF token.
"use strict";
const Hotline = {
  csrf: document.body.dataset.csrf || "",
  async api(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": Hotline.csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  },
  connect(onBoard, onStatus) {
    let delay = 500;
    const open = () => {
      const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/live");
      ws.onopen = () => { delay = 500; onStatus(""); };
      ws.onmessage = (m) => { const board = JSON.parse(m.data); board.received_at = Date.now() / 1000; onBoard(board); };
      ws.onclose = (event) => {
        // 4401: the sign-in ended (signed out, disabled, password changed): back to the sign-in page.
        if (event.code === 4401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
        onStatus("lost"); setTimeout(open, delay); delay = Math.min(delay * 2, 10000);
      };
    };
    open();
  },
  // A time from the API (UTC) as the site's local time, e.g. 2026-11-22 09:24.
  localTime(iso) {
    return new Intl.DateTimeFormat("sv-SE", {
      timeZone: document.body.dataset.tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    }).format(new Date(iso));
  },
  clock(seconds) {
    const m = Math.floor(seconds / 60), s = seconds % 60;
    return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${String(s).padStart(2, "0")}` : `${m}:${String(s).padStart(2, "0")}`;
  },
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k.startsWith("data-")) node.setAttribute(k, v); else node[k] = v;
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
    return node;
  },
};
