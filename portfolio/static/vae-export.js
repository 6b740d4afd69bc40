// Poll an export's progress until it is done or failed, then show the download link.
(function () {
  "use strict";
  var box = document.getElementById("export-status");
  if (!box || box.dataset.status === "done" || box.dataset.status === "failed") { return; }
  var bar = document.getElementById("export-progress");
  var state = document.getElementById("export-state");
  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        bar.value = data.progress;
        bar.textContent = data.progress + " %";
        if (data.status === "done") {
          window.location.reload();
        } else if (data.status === "failed") {
          state.textContent = data.error || "";
        } else {
          setTimeout(poll, 1000);
        }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
