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

  // htmx leaves 4xx answers unswapped by default; ours carry the form with its
  // messages (400 bad input, 403 refused, 409 changed by someone else).
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 403 || status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Move focus to a conflict or error message so screen readers announce it.
  document.addEventListener("htmx:afterSwap", function (event) {
    // With outerHTML the target is the replaced element; its successor has the same id.
    var id = event.detail.target && event.detail.target.id;
    var alert = id ? document.querySelector("#" + id + " [role=alert]") : null;
    if (alert) {
      alert.setAttribute("tabindex", "-1");
      alert.focus();
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setUpPrint(document); });
  } else {
    setUpPrint(document);
  }
})();
