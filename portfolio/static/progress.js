// The progress page folds each block to its bar and renders its body (decision, competencies, tags,
// history) only when it is opened: the body is fetched from the block's fragment URL. Without
// JavaScript the block's link opens the page with that block (?block=CODE), and "Imprimer" the page
// with every block (?all=1). A link to a competency (#progress-CODE) or a block opens its block.
(function () {
  "use strict";
  var blocks = Array.prototype.slice.call(document.querySelectorAll("details.block-progress"));

  function load(details) {
    var body = details.querySelector(".block-progress__body[data-fragment]");
    if (!body) { return Promise.resolve(); }
    if (!body.loading) {
      body.setAttribute("aria-busy", "true");
      body.loading = fetch(body.getAttribute("data-fragment"), {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.text();
        })
        .then(function (html) {
          var template = document.createElement("template");
          template.innerHTML = html.trim();
          body.replaceWith(template.content);
        })
        .catch(function () {
          body.loading = null;
          body.removeAttribute("aria-busy");
          var note = body.querySelector("[data-load-error]");
          if (!note) {
            note = document.createElement("p");
            note.className = "alert alert--error";
            note.setAttribute("role", "alert");
            note.setAttribute("data-load-error", "");
            note.textContent = body.getAttribute("data-error") || "";
            body.prepend(note);
          }
        });
    }
    return body.loading;
  }

  blocks.forEach(function (details) {
    details.addEventListener("toggle", function () { if (details.open) { load(details); } });
    if (details.open) { load(details); }
  });

  function openTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    if (!id || document.getElementById(id)) { return; }  // app.js opens what is already on the page
    var code = id.replace(/^(progress|refusal|decision)-/, "");
    blocks.forEach(function (details) {
      if (details.id !== "block-" + code &&
          (" " + details.getAttribute("data-codes") + " ").indexOf(" " + code + " ") < 0) { return; }
      details.open = true;
      load(details).then(function () {
        var target = document.getElementById(id);
        for (var d = target && target.closest("details"); d; d = d.parentElement && d.parentElement.closest("details")) {
          d.open = true;
        }
        if (target) { target.scrollIntoView(); }
      });
    });
  }
  openTarget();
  window.addEventListener("hashchange", openTarget);

  // "Imprimer" (app.js) waits for every block's body before the print dialog opens.
  window.portfolioBeforePrint = function () { return Promise.all(blocks.map(load)); };
})();
