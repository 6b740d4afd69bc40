// Site-wide enhancements (the pages work without them): the folding menu becomes a real button,
// and printing opens every folded section so that nothing is left out of the paper copy.
(function () {
  "use strict";
  var header = document.querySelector(".site-header");
  var toggle = document.getElementById("nav-toggle");
  var label = document.querySelector(".nav-toggle-label");
  if (header && toggle && label) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "nav-button";
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-controls", "site-menu");
    button.innerHTML = label.innerHTML;
    label.replaceWith(button);
    toggle.remove();
    var setOpen = function (open) {
      header.classList.toggle("is-open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    };
    button.addEventListener("click", function () { setOpen(!header.classList.contains("is-open")); });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && header.classList.contains("is-open")) { setOpen(false); button.focus(); }
    });
  }

  // A table that scrolls sideways on a phone must be reachable with the keyboard: when it holds
  // nothing focusable, the scrolling box itself takes the focus, named after the table's caption.
  document.querySelectorAll(".table-scroll, .case-detail, .archive-tree").forEach(function (box) {
    if (box.hasAttribute("tabindex") || box.querySelector("a[href], button, input, select, textarea, [tabindex]")) { return; }
    var caption = box.querySelector("caption");
    var summary = box.parentElement && box.parentElement.tagName === "DETAILS" && box.parentElement.querySelector("summary");
    box.setAttribute("tabindex", "0");
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", (caption || summary || document.querySelector("h1") || document).textContent.trim());
  });

  // Printing and links to a block open the folded sections they concern.
  function openTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id && document.getElementById(id);
    for (var d = target && target.closest("details"); d; d = d.parentElement && d.parentElement.closest("details")) {
      d.open = true;
    }
    if (target) { target.scrollIntoView(); }
  }
  openTarget();
  window.addEventListener("hashchange", openTarget);
  // A page may need a moment before it prints (progress.js loads the folded blocks' bodies).
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function (event) {
      event.preventDefault();
      Promise.resolve(window.portfolioBeforePrint ? window.portfolioBeforePrint() : null)
        .then(function () { window.print(); });
    });
  });

  var opened = [];
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details:not([open])").forEach(function (d) { d.open = true; opened.push(d); });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });
})();
