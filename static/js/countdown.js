// Live countdowns: <time datetime="..." data-countdown> reads "due in 1h 12m"
// or "breached 25m ago", updated every 20 s and after each htmx swap.
(function () {
  "use strict";

  function words(seconds) {
    seconds = Math.abs(Math.floor(seconds));
    if (seconds < 60) return seconds + "s";
    const days = Math.floor(seconds / 86400);
    const hours = Math.floor((seconds % 86400) / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    if (days) return hours ? days + "d " + hours + "h" : days + "d";
    if (hours) return minutes ? hours + "h " + minutes + "m" : hours + "h";
    return minutes + "m";
  }

  function update(root) {
    (root || document).querySelectorAll("time[data-countdown]").forEach((element) => {
      const due = Date.parse(element.getAttribute("datetime"));
      if (Number.isNaN(due)) return;
      const left = (due - Date.now()) / 1000;
      const text = left >= 0 ? "due in " + words(left) : "breached " + words(-left) + " ago";
      if (element.textContent !== text) element.textContent = text;
    });
  }

  document.addEventListener("DOMContentLoaded", () => update());
  document.addEventListener("htmx:afterSwap", (event) => update(event.target));
  setInterval(update, 20000);
})();
