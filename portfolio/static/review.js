// Fast review with the keyboard (the page works without it: radios, textareas, links, one button).
//   1 2 3    level of the current competency (acquis, en cours, non acquis), then the next one
//   j / k    next / previous competency        c  write the comment      Escape  leave the comment
//   Ctrl+Enter (or Cmd+Enter)  record and go on to the next piece        n / p  next / previous piece
(function () {
  "use strict";
  var form = document.getElementById("review-form");
  if (!form) { return; }
  var cards = Array.prototype.slice.call(form.querySelectorAll("article[data-competency]"));
  var current = 0;

  function select(index, focus) {
    if (!cards.length) { return; }
    current = Math.max(0, Math.min(cards.length - 1, index));
    cards.forEach(function (card, i) { card.classList.toggle("is-current", i === current); });
    if (focus) {
      var checked = cards[current].querySelector("input[type=radio]:checked") || cards[current].querySelector("input[type=radio]");
      if (checked) { checked.focus({ preventScroll: true }); }
      cards[current].scrollIntoView({ block: "nearest" });
    }
  }

  cards.forEach(function (card, i) {
    card.addEventListener("focusin", function () { select(i, false); });
  });

  function typing(target) {
    return target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type !== "radio") ||
                      target.tagName === "SELECT" || target.isContentEditable);
  }

  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.submit();
      return;
    }
    if (typing(e.target)) {
      if (e.key === "Escape") { e.preventDefault(); select(current, true); }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var link;
    switch (e.key) {
      case "1": case "2": case "3": {
        var radio = cards.length && cards[current].querySelector("input[data-key='" + e.key + "']");
        if (radio) {
          e.preventDefault();
          radio.checked = true;
          radio.dispatchEvent(new Event("change", { bubbles: true }));
          select(current + 1 < cards.length ? current + 1 : current, true);
        }
        break;
      }
      case "j": e.preventDefault(); select(current + 1, true); break;
      case "k": e.preventDefault(); select(current - 1, true); break;
      case "c": {
        var comment = cards.length && cards[current].querySelector("textarea");
        if (comment) { e.preventDefault(); comment.focus(); }
        break;
      }
      case "n": link = document.querySelector("a[rel=next]"); break;
      case "p": link = document.querySelector("a[rel=prev]"); break;
      case "?": {
        var keys = document.getElementById("review-keys");
        if (keys) { keys.open = !keys.open; }
        break;
      }
    }
    if (link) { e.preventDefault(); window.location.assign(link.href); }
  });

  var error = document.getElementById("review-error");
  if (error) { error.focus(); } else { select(0, false); }
})();
