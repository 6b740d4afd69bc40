// "Copy the link" buttons: copy the target field's value and say so in a status region.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      var status = document.getElementById("copy-status");
      var say = function (ok) {
        if (status) { status.textContent = status.getAttribute(ok ? "data-copied" : "data-failed"); }
      };
      field.focus();
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { say(true); }, function () { say(false); });
      } else {
        say(document.execCommand && document.execCommand("copy"));
      }
    });
  });
}());
