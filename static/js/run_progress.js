// Commission runs: every element with [data-progress-url] whose run is queued or running polls its
// progress every 1.5 s and updates its bar, count, line count and status, until the run ends; a page
// whose other figures depend on the run (marked data-reload-when-ended) is then reloaded to show them.
(function () {
  "use strict";
  function watch(el) {
    function set(role, fn) { var t = el.querySelector("[data-role=" + role + "]"); if (t) { fn(t); } }
    function poll() {
      fetch(el.dataset.progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) {
          if (!p) { return; }
          set("bar", function (t) { t.max = Math.max(p.total, 1); t.value = p.done; });
          set("count", function (t) { t.textContent = p.done + " of " + p.total; });
          set("lines", function (t) { t.textContent = p.lines; });
          set("status", function (t) { t.textContent = p.status_label; });
          el.dataset.status = p.status;
          if (p.status === "queued" || p.status === "running") { setTimeout(poll, 1500); }
          else if (el.hasAttribute("data-reload-when-ended")) { window.location.reload(); }
        })
        .catch(function () { setTimeout(poll, 5000); });
    }
    poll();
  }
  document.querySelectorAll("[data-progress-url]").forEach(function (el) {
    if (el.dataset.status === "queued" || el.dataset.status === "running") { watch(el); }
  });
})();
