"use strict";
// "Use my position": fills the form's coordinates from the phone's location, when the browser has one and
// the citizen allows it. Without script, the two fields are typed in (or left empty).
(() => {
  const button = document.getElementById("use-position");
  if (!button || !navigator.geolocation) return;
  button.hidden = false;
  button.addEventListener("click", () => {
    navigator.geolocation.getCurrentPosition((p) => {
      document.querySelector("[name=latitude]").value = p.coords.latitude.toFixed(6);
      document.querySelector("[name=longitude]").value = p.coords.longitude.toFixed(6);
      button.form.dispatchEvent(new Event("position"));
    });
  });
})();
