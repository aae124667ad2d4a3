// On every page: htmx leaves 4xx answers unswapped by default, but ours carry the
// form or row with its message (400 bad input, 403 refused, 409 changed by someone
// else), and 503 (the service is busy or down) a message for #site-alert, where the
// answer's HX-Retarget sends it. Show them in place and move focus there so screen
// readers announce them.
// Every form works without this file.
(function () {
  "use strict";

  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 403 || status === 409 || status === 503) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    // With outerHTML the target is the replaced element; its successor has the same id.
    var id = event.detail.target && event.detail.target.id;
    var element = id ? document.getElementById(id) : null;
    var message = element ? element.querySelector("[role=alert], [role=status]") : null;
    if (message) {
      message.setAttribute("tabindex", "-1");
      message.focus();
    }
  });
})();
