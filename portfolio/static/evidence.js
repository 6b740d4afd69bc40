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

  // Every upload shows progress. Large files go straight to the bucket when the store allows it
  // (a presigned POST the app signs for that one file); the rest goes through the app. The
  // server's answer (a redirect or the form with its errors) then replaces the page, exactly as
  // a normal submission would.
  function post(url, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { onProgress(e.loaded); }
      });
      xhr.addEventListener("load", function () { resolve(xhr); });
      xhr.addEventListener("error", function () { reject(new Error("network")); });
      xhr.send(body);
    });
  }

  function stage(file) {
    return fetch(form.dataset.stageUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.value : "" },
      body: JSON.stringify({ filename: file.name, size: file.size })
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw new Error(data.error ? data.error.message : "upload refused"); }
        return data;
      });
    });
  }

  form.addEventListener("submit", function (event) {
    var input = form.querySelector("input[type=file]");
    if (!input || !input.files.length || !window.XMLHttpRequest || !window.FormData) { return; }
    event.preventDefault();
    var box = form.querySelector(".progress");
    var bar = document.getElementById("upload-progress");
    var files = Array.prototype.slice.call(input.files);
    var threshold = parseInt(form.dataset.directThreshold || "0", 10);
    var direct = form.dataset.stageUrl ? files.filter(function (f) { return f.size > threshold; }) : [];
    var viaApp = files.filter(function (f) { return direct.indexOf(f) < 0; });
    var total = files.reduce(function (n, f) { return n + f.size; }, 0) || 1;
    var done = 0;
    function show(extra) {
      var pct = Math.min(100, Math.round(((done + extra) / total) * 100));
      bar.value = pct;
      bar.textContent = pct + " %";
    }
    box.hidden = false;
    var body = new FormData(form);
    body.delete("files");
    viaApp.forEach(function (f) { body.append("files", f, f.name); });

    var chain = Promise.resolve();
    direct.forEach(function (file) {
      chain = chain.then(function () { return stage(file); }).then(function (signed) {
        var s3 = new FormData();
        Object.keys(signed.fields).forEach(function (k) { s3.append(k, signed.fields[k]); });
        s3.append("file", file, file.name);  // the file field must come last
        return post(signed.url, s3, show).then(function (xhr) {
          if (xhr.status >= 300) { throw new Error("storage refused the file (" + xhr.status + ")"); }
          done += file.size;
          body.append("staged", signed.key);
          body.append("staged_filename", file.name);
          body.append("staged_size", String(file.size));
        });
      });
    });
    chain.then(function () {
      return post(form.action || window.location.href, body, show);
    }).then(function (xhr) {
      if (xhr.responseURL && xhr.responseURL !== window.location.href && xhr.status < 400) {
        window.location.assign(xhr.responseURL);
      } else {
        document.open();
        document.write(xhr.responseText);
        document.close();
      }
    }).catch(function (err) {
      box.hidden = true;
      var message = document.createElement("p");
      message.className = "alert alert--error";
      message.setAttribute("role", "alert");
      message.textContent = err.message;
      form.insertBefore(message, form.firstChild);
    });
  });
})();
