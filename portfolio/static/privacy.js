// Follow the preparation of a personal-data archive; reload the page when it is ready or has failed.
(function () {
  "use strict";
  var box = document.getElementById("data-export");
  if (!box || (box.dataset.status !== "queued" && box.dataset.status !== "running")) { return; }
  var bar = box.querySelector("progress");
  function poll() {
    fetch(box.dataset.progressUrl, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (bar) { bar.value = data.progress; bar.textContent = data.progress + " %"; }
        if (data.status === "done" || data.status === "failed") { window.location.reload(); }
        else { setTimeout(poll, 1500); }
      })
      .catch(function () { setTimeout(poll, 4000); });
  }
  setTimeout(poll, 1500);
})();
