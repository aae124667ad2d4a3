// The coordinators' queues. Every form works without this file; it only lets htmx
// show the answers that carry a message (400 bad input, 403 refused, 409 changed by
// someone else) in place of the row, and moves focus to that message.
(function () {
  "use strict";

  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 403 || status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var id = event.detail.target && event.detail.target.id;
    var row = id ? document.getElementById(id) : null;
    var message = row ? row.querySelector("[role=alert], [role=status]") : null;
    if (message) {
      message.setAttribute("tabindex", "-1");
      message.focus();
    }
  });
})();
