// Evidence form: live Markdown preview (sanitized by the server); files chosen, dropped or pasted,
// sent with a progress bar and a cancel button per file, and a cancel button for the whole sending.
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
      xhr.addEventListener("abort", function () { reject(new Error("cancelled")); });
      sending = xhr;
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

  // Several files at once: the file field, a drop zone, or an image pasted from the clipboard. The
  // chosen files are listed, each with its size, its own progress bar once sending starts and a
  // button: « Retirer » before sending, « Annuler » while sending (that file only: the others go on).
  // Sending can also be cancelled as a whole (nothing is recorded then).
  var input = form.querySelector("input[type=file]");
  var text = form.dataset;
  var chosen = [];
  var list = null;
  var sending = null;  // the XMLHttpRequest under way
  var current = [];  // the files the request under way carries, in the order of its body
  var cancelled = false;  // the whole sending
  var busy = false;  // sending has started

  function humanSize(n) {
    var units = (text.sizeUnits || "o,Kio,Mio,Gio").split(","), i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i ? n.toFixed(1).replace(".", text.decimal || ",") : String(n)) + "\u00a0" + units[i];
  }

  function sync() {
    if (window.DataTransfer) {
      var transfer = new DataTransfer();
      chosen.forEach(function (f) { transfer.items.add(f); });
      input.files = transfer.files;
    }
    render();
  }

  function render() {
    list.innerHTML = "";
    chosen.forEach(function (file, i) {
      var item = document.createElement("li");
      item.className = "upload-item";
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = file.name + " — " + humanSize(file.size);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button button--small button--ghost";
      var label = document.createElement("span");
      label.textContent = text.removeText || "Retirer";
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = " " + file.name;
      remove.appendChild(label);
      remove.appendChild(hidden);
      remove.addEventListener("click", function () {
        if (busy) { cancelFile(file); } else { chosen.splice(i, 1); sync(); }
      });
      var state = document.createElement("span");
      state.className = "upload-state muted";
      state.setAttribute("role", "status");
      var bar = document.createElement("progress");
      bar.max = 100; bar.value = 0; bar.hidden = true;
      bar.setAttribute("aria-label", (text.fileProgressText || "Envoi de") + " " + file.name);
      item.appendChild(name); item.appendChild(remove); item.appendChild(state); item.appendChild(bar);
      list.appendChild(item);
      file.portfolioCancelled = false;
      file.portfolioRow = { item: item, bar: bar, remove: remove, label: label, state: state };
    });
  }

  // One file taken out while sending: if it is in the request under way, that request is stopped
  // and sent again without it (a file straight to the bucket is simply skipped).
  function cancelFile(file) {
    if (file.portfolioCancelled) { return; }
    file.portfolioCancelled = true;
    var row = file.portfolioRow;
    if (row) {
      row.remove.disabled = true;
      row.bar.hidden = true;
      row.item.classList.add("is-cancelled");
      row.state.textContent = text.fileCancelledText || "Envoi annulé";
    }
    if (sending && current.indexOf(file) >= 0) { sending.abort(); }
  }

  function add(files) {
    Array.prototype.forEach.call(files, function (f) { chosen.push(f); });
    sync();
  }

  if (input && window.FormData) {
    var field = input.closest(".field") || input;
    var zone = document.createElement("div");
    zone.className = "dropzone";
    var hint = document.createElement("p");
    hint.textContent = text.dropText || "Déposez vos fichiers ici, ou collez une image.";
    zone.appendChild(hint);
    list = document.createElement("ul");
    list.className = "upload-list";
    list.id = "upload-list";
    list.setAttribute("aria-live", "polite");
    field.parentNode.insertBefore(zone, field.nextSibling);
    zone.parentNode.insertBefore(list, zone.nextSibling);
    zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("is-over"); });
    zone.addEventListener("dragleave", function () { zone.classList.remove("is-over"); });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      zone.classList.remove("is-over");
      if (e.dataTransfer && e.dataTransfer.files.length) { add(e.dataTransfer.files); }
    });
    input.addEventListener("change", function () {
      // The picker replaces the field's files: keep those dropped or pasted before, add the new ones.
      var picked = Array.prototype.slice.call(input.files);
      var fresh = picked.filter(function (f) { return chosen.indexOf(f) < 0; });
      fresh.forEach(function (f) { chosen.push(f); });
      sync();
    });
    document.addEventListener("paste", function (e) {
      var items = e.clipboardData ? Array.prototype.slice.call(e.clipboardData.files || []) : [];
      var images = items.filter(function (f) { return /^image\//.test(f.type); });
      if (!images.length) { return; }
      e.preventDefault();
      var stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
      add(images.map(function (f, i) {
        var ext = (f.type.split("/")[1] || "png").replace("jpeg", "jpg");
        var name = (text.pasteName || "capture") + "-" + stamp + (i ? "-" + (i + 1) : "") + "." + ext;
        return new File([f], name, { type: f.type });
      }));
    });
  }

  form.addEventListener("submit", function (event) {
    if (!input || !input.files.length || !window.XMLHttpRequest || !window.FormData) { return; }
    event.preventDefault();
    var box = form.querySelector(".progress");
    var bar = document.getElementById("upload-progress");
    var files = Array.prototype.slice.call(input.files);
    var threshold = parseInt(form.dataset.directThreshold || "0", 10);
    var direct = form.dataset.stageUrl ? files.filter(function (f) { return f.size > threshold; }) : [];
    var viaApp = files.filter(function (f) { return direct.indexOf(f) < 0; });
    var staged = [];  // {file, key}: in the bucket, waiting for the form's request
    var done = 0;  // bytes of the files already sent to the bucket
    function live(some) { return some.filter(function (f) { return !f.portfolioCancelled; }); }
    function fileBars(loaded) {
      var offset = 0;
      current.forEach(function (f) {
        var row = f.portfolioRow;
        if (!row || f.portfolioCancelled) { offset += f.size; return; }
        var pct = f.size ? Math.max(0, Math.min(100, Math.round(((loaded - offset) / f.size) * 100))) : 100;
        row.bar.hidden = false;
        row.bar.value = pct;
        offset += f.size;
      });
    }
    function show(extra) {
      var total = live(files).reduce(function (n, f) { return n + f.size; }, 0) || 1;
      var pct = Math.min(100, Math.round(((done + extra) / total) * 100));
      bar.value = pct;
      bar.textContent = pct + " %";
      fileBars(extra);
    }
    function stopped(err) {  // a file of the request under way was taken out (not the whole sending)
      if (cancelled || err.message !== "cancelled") { throw err; }
      if (!live(files).length) { cancelled = true; throw err; }  // every file taken out: nothing is sent
    }
    box.hidden = false;
    cancelled = false;
    busy = true;
    var cancel = document.getElementById("upload-cancel");
    if (!cancel) {
      cancel = document.createElement("button");
      cancel.type = "button";
      cancel.id = "upload-cancel";
      cancel.className = "button button--small button--ghost";
      cancel.textContent = text.cancelText || "Annuler l'envoi";
      cancel.addEventListener("click", function () { cancelled = true; if (sending) { sending.abort(); } });
      box.appendChild(cancel);
    }
    cancel.hidden = false;
    files.forEach(function (f) {
      if (f.portfolioRow) { f.portfolioRow.label.textContent = text.cancelFileText || "Annuler"; }
    });

    function sendDirect(file) {
      if (file.portfolioCancelled) { return Promise.resolve(); }
      return stage(file).then(function (signed) {
        if (file.portfolioCancelled) { return null; }
        var s3 = new FormData();
        Object.keys(signed.fields).forEach(function (k) { s3.append(k, signed.fields[k]); });
        s3.append("file", file, file.name);  // the file field must come last
        current = [file];
        return post(signed.url, s3, show).then(function (xhr) {
          if (xhr.status >= 300) { throw new Error("storage refused the file (" + xhr.status + ")"); }
          done += file.size;
          staged.push({ file: file, key: signed.key });
        });
      }).catch(stopped);
    }
    function sendForm() {
      if (cancelled) { throw new Error("cancelled"); }
      var body = new FormData(form);
      body.delete("files");
      current = live(viaApp);
      current.forEach(function (f) { body.append("files", f, f.name); });
      staged.forEach(function (s) {
        if (s.file.portfolioCancelled) { return; }  // left in the bucket: the sweep removes it
        body.append("staged", s.key);
        body.append("staged_filename", s.file.name);
        body.append("staged_size", String(s.file.size));
      });
      return post(form.action || window.location.href, body, function (loaded) { show(loaded); })
        .catch(function (err) { stopped(err); return sendForm(); });  // the same form, without that file
    }

    var chain = Promise.resolve();
    direct.forEach(function (file) { chain = chain.then(function () { return sendDirect(file); }); });
    chain.then(function () {
      if (!live(files).length) { cancelled = true; throw new Error("cancelled"); }
      return sendForm();
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
      busy = false;
      sending = null;
      chosen = chosen.filter(function (f) { return !f.portfolioCancelled; });
      sync();  // the files taken out are gone from the list; the others can be sent again
      var message = document.createElement("p");
      message.className = "alert " + (cancelled ? "alert--warning" : "alert--error");
      message.setAttribute("role", "alert");
      message.textContent = cancelled ? (text.cancelledText || "Envoi annulé : rien n'a été enregistré.") : err.message;
      form.insertBefore(message, form.firstChild);
    });
  });
})();
