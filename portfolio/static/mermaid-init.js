// Mermaid diagrams of the evidence page, rendered in the browser by the vendored renderer.
//
// The page's CSP stays as strict as everywhere else (style-src 'self', no inline script): Mermaid
// draws each diagram off-screen, and the SVG it returns is then shown as an <img> (a data: URL,
// allowed by img-src). An image document runs no script and loads nothing, and the <style> Mermaid
// puts in its SVG applies inside that image only, never to the page. While Mermaid measures text
// off-screen the browser refuses its inline styles (CSP reports in the console): the measurement uses
// the .mermaid-work font, set to Mermaid's own so that the labels fit their boxes.
(function () {
  "use strict";
  var figures = document.querySelectorAll("figure[data-mermaid-source]");
  if (!figures.length || typeof window.mermaid === "undefined") { return; }

  window.mermaid.initialize({
    startOnLoad: false,
    securityLevel: "strict",
    htmlLabels: false,
    flowchart: { htmlLabels: false },
    // A diagram's %%{init}%% directive may not change these.
    secure: ["secure", "securityLevel", "startOnLoad", "maxTextSize", "suppressErrorRendering", "maxEdges",
             "htmlLabels", "flowchart", "themeCSS", "fontFamily", "altFontFamily"],
    suppressErrorRendering: true
  });

  var work = document.createElement("div");
  work.className = "mermaid-work";
  work.setAttribute("aria-hidden", "true");
  document.body.appendChild(work);

  // The SVG says width="100%": give the image its natural size so that CSS can only shrink it.
  function sized(svg) {
    var box = /viewBox="[-\d.]+ [-\d.]+ ([\d.]+) ([\d.]+)"/.exec(svg);
    if (!box) { return svg; }
    return svg.replace(/<svg([^>]*?) width="100%"/, '<svg$1 width="' + box[1] + '" height="' + box[2] + '"');
  }

  function show(figure, index) {
    var status = figure.querySelector(".mermaid-status");
    return window.mermaid.render("mermaid-diagram-" + index, figure.dataset.mermaidSource, work)
      .then(function (result) {
        var img = document.createElement("img");
        img.className = "mermaid-diagram";
        img.alt = figure.dataset.alt || "";
        img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(sized(result.svg));
        figure.insertBefore(img, figure.firstChild);
        figure.dataset.rendered = "true";
      })
      .catch(function (error) {
        status.textContent = (figure.dataset.error || "") + " " + (error && error.message ? error.message : error);
        status.hidden = false;
        figure.dataset.rendered = "error";
      });
  }

  // One after the other: Mermaid's renderer is not re-entrant.
  var chain = Promise.resolve();
  Array.prototype.forEach.call(figures, function (figure, index) {
    chain = chain.then(function () { return show(figure, index); });
  });
  chain.then(function () { work.remove(); document.body.dataset.mermaid = "done"; });
}());
