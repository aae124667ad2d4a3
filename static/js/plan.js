// The plan page. Everything works without this file; it only adds comfort.
(function () {
  "use strict";

  // A print button, shown only when it can work.
  function setUpPrint(root) {
    root.querySelectorAll("[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
  }

  // After an in-place save the server sends planVersion {from, to}. Forms that
  // showed version `from` have seen everything up to this user's own change, so
  // they may now name `to`. Forms showing an older version keep it, so their next
  // save is refused and shows the newer content instead of overwriting it.
  document.addEventListener("planVersion", function (event) {
    var from = String(event.detail.from);
    var to = String(event.detail.to);
    document.querySelectorAll('input[name="version"]').forEach(function (input) {
      if (input.value === from) { input.value = to; }
    });
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setUpPrint(document); });
  } else {
    setUpPrint(document);
  }
})();
