// Register a client: show the fields of the chosen client type only (the server checks them either way).
(function () {
  "use strict";
  var kind = document.getElementById("id_kind");
  if (!kind) { return; }
  function show() {
    document.querySelectorAll("[data-kind]").forEach(function (el) { el.hidden = el.dataset.kind !== kind.value; });
  }
  kind.addEventListener("change", show);
  show();
})();
