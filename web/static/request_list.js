"use strict";
// The request list by keyboard: "/" to the search box, j and k (or the arrows) down and up the rows,
// Enter to open the one chosen. The filters are a plain form: without script the list works the same.
(() => {
  const rows = [...document.querySelectorAll("#requests tbody tr[data-number]")];
  let at = -1;
  const choose = (i) => {
    if (!rows.length) return;
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((row, k) => row.classList.toggle("chosen", k === at));
    rows[at].querySelector("a").focus();
  };
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName);
    if (event.key === "/" && !typing) {
      event.preventDefault();
      document.querySelector("#request-filters [name=q]").focus();
    } else if (!typing && (event.key === "j" || event.key === "ArrowDown")) {
      event.preventDefault();
      choose(at + 1);
    } else if (!typing && (event.key === "k" || event.key === "ArrowUp")) {
      event.preventDefault();
      choose(at - 1);
    }
  });
})();
