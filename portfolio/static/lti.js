// LTI client-side postMessage storage (1EdTech "LTI Client Side postMessages"), automatic form posts
// and the end of a dynamic registration. No inline script: the data come in data-* attributes.
(function () {
  "use strict";

  function storageFrame(target) {
    var parent = window.parent;
    if (!parent || parent === window) { return null; }
    if (!target || target === "_parent") { return parent; }
    try { return parent.frames[target] || parent; } catch (e) { return parent; }
  }

  function ask(el, message, onAnswer, onFail) {
    var frame = storageFrame(el.dataset.target);
    var origin = el.dataset.origin;
    if (!frame) { onFail(); return; }
    var id = "m" + Math.random().toString(36).slice(2);
    message.message_id = id;
    var done = false;
    function listen(event) {
      if (event.origin !== origin || !event.data || event.data.message_id !== id) { return; }
      done = true;
      window.removeEventListener("message", listen);
      if (event.data.error) { onFail(); } else { onAnswer(event.data); }
    }
    window.addEventListener("message", listen);
    frame.postMessage(message, origin);
    window.setTimeout(function () { if (!done) { window.removeEventListener("message", listen); onFail(); } }, 3000);
  }

  var put = document.querySelector("[data-lti-put]");
  if (put) {
    var go = function () { window.location.assign(put.dataset.redirect); };
    ask(put, {subject: "lti.put_data", key: "state_" + put.dataset.state, value: put.dataset.secret}, go, go);
  }

  var get = document.querySelector("[data-lti-get]");
  if (get) {
    ask(get, {subject: "lti.get_data", key: "state_" + get.dataset.state}, function (answer) {
      get.querySelector("input[name=lti_storage_secret]").value = answer.value || "";
      get.submit();
    }, function () {
      var failed = document.getElementById("lti-storage-failed");
      if (failed) { failed.hidden = false; }
    });
  }

  var auto = document.querySelector("form[data-autosubmit]");
  if (auto) { auto.submit(); }

  if (document.querySelector("[data-lti-close]")) {
    var host = window.opener || window.parent;
    if (host && host !== window) { host.postMessage({subject: "org.imsglobal.lti.close"}, "*"); }
  }
})();
