// SLA countdowns: refresh the "due in / overdue" text of every [data-due] chip every 30 s without reloading.
(function () {
  "use strict";
  function fmt(ms) {
    var m = Math.floor(Math.abs(ms) / 60000), d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60), r = m % 60;
    return d ? d + "d " + h + "h" : (h ? h + "h " + r + "m" : r + "m");
  }
  function tick() {
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var ms = Date.parse(el.dataset.due) - Date.now();
      el.textContent = ms < 0 ? "overdue " + fmt(ms) : "due in " + fmt(ms);
      el.className = "chip sla " + (ms < 0 ? "late" : (ms < 3600000 ? "soon" : "ok"));
    });
  }
  setInterval(tick, 30000);
})();
