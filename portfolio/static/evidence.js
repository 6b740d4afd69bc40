// Evidence form: live Markdown preview (sanitized by the server) and an upload progress bar.
(function () {
  "use strict";
  var form = document.querySelector("form[data-upload-form]");
  if (!form) { return; }
  var token = form.querySelector("input[name=csrf_token]");
  var textarea = form.querySelector("textarea[name=description]");
  var preview = document.getElementById("description-preview");
  var timer = null;

  function refreshPreview() {
    var body = new FormData();
    body.append("text", textarea.value);
    if (token) { body.append("csrf_token", token.value); }
    fetch(form.dataset.previewUrl, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { preview.innerHTML = data.html; } });
  }
  if (textarea && preview) {
    textarea.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refreshPreview, 300);
    });
    if (textarea.value) { refreshPreview(); }
  }

  // Send with XMLHttpRequest to show progress; the server's answer (a redirect or the form with
  // its errors) replaces the page, exactly as a normal submission would.
  form.addEventListener("submit", function (event) {
    var files = form.querySelector("input[type=file]");
    if (!files || !files.files.length || !window.XMLHttpRequest) { return; }
    event.preventDefault();
    var box = form.querySelector(".progress");
    var bar = document.getElementById("upload-progress");
    box.hidden = false;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action || window.location.href);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        var pct = Math.round((e.loaded / e.total) * 100);
        bar.value = pct;
        bar.textContent = pct + " %";
      }
    });
    xhr.addEventListener("load", function () {
      if (xhr.responseURL && xhr.responseURL !== window.location.href && xhr.status < 400) {
        window.location.assign(xhr.responseURL);
      } else {
        document.open();
        document.write(xhr.responseText);
        document.close();
      }
    });
    xhr.addEventListener("error", function () { box.hidden = true; form.submit(); });
    xhr.send(new FormData(form));
  });
})();
