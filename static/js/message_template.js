// The template editor's preview follows the text as it is typed (the Preview button does the
// same without JavaScript). Only the email fields show for an email, the body for an SMS.
(function () {
  "use strict";
  var form = document.getElementById("template-form");
  if (!form || !form.dataset.previewUrl || !window.fetch) return;
  var panel = form.querySelector("[data-preview]");
  var subject = form.querySelector("[data-email-only]");
  var timer = null;
  var latest = 0;

  function channel() {
    var checked = form.querySelector("[name=channel]:checked");
    return checked ? checked.value : "email";
  }

  function refresh() {
    var asked = ++latest;
    var data = new FormData(form);
    data.delete("preview");
    fetch(form.dataset.previewUrl, {
      method: "POST",
      body: data,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (p) { if (asked === latest) panel.innerHTML = p.html; })
      .catch(function () { /* the Preview button still works */ });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 300);
  }

  function showFields() {
    if (subject) subject.hidden = channel() !== "email";
  }

  form.addEventListener("input", later);
  form.addEventListener("change", function () { showFields(); later(); });
  showFields();
})();
