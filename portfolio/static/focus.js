// Messages are seen where the eye is: after a save, a refusal or an error, the message is moved next to
// what it is about (the element the URL's #anchor names) and focus moves to it, so that the page scrolls
// there and a screen reader reads it. Without JavaScript the messages stay at the top of the page.
(function () {
  "use strict";

  function focus(el) {
    if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: "center" });
  }

  function anchorTarget() {
    if (location.hash.length < 2) return null;
    var el = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    return el && el.closest("main") ? el : null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var flashes = document.querySelector(".flashes");
    var target = anchorTarget();
    if (flashes && target && !target.contains(flashes)) {
      var heading = target.querySelector(":scope > h2, :scope > h3");
      if (heading) heading.insertAdjacentElement("afterend", flashes);
      else if (target.tagName === "FORM" || target.tagName === "SECTION") target.insertAdjacentElement("afterbegin", flashes);
      else target.insertAdjacentElement("afterend", flashes);
    }
  });

  // After the browser's own scroll to the #anchor (which would take the focus back to the page):
  // a refusal shown in its own form first, then a form's error summary, then the messages.
  window.addEventListener("load", function () {
    window.setTimeout(function () {
      var first = document.querySelector("[data-focus-on-load]") || document.getElementById("form-errors") ||
        document.querySelector(".flashes");
      if (first) focus(first);
    }, 0);
  });
})();
