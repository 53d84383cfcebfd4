// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Three-dot menus: one open at a time, closed by Escape or a click elsewhere.
  document.addEventListener("toggle", function (event) {
    var opened = event.target;
    if (!opened.classList || !opened.classList.contains("menu") || !opened.open) return;
    document.querySelectorAll("details.menu[open]").forEach(function (d) {
      if (d !== opened) d.open = false;
    });
    var first = opened.querySelector("[role=menuitem]");
    if (first) first.focus();
  }, true);
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (d) {
      if (!d.contains(event.target)) d.open = false;
    });
  });
  document.addEventListener("keydown", function (event) {
    var menu = event.target.closest && event.target.closest("details.menu[open]");
    if (menu && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      var items = Array.prototype.slice.call(menu.querySelectorAll("[role=menuitem]"));
      var at = items.indexOf(document.activeElement);
      var step = event.key === "ArrowDown" ? 1 : -1;
      var next = items[(at + step + items.length) % items.length];
      if (next) { next.focus(); event.preventDefault(); }
      return;
    }
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (d) {
      d.open = false;
      d.querySelector("summary").focus();
    });
  });

  // Progress bar of a background batch or import: poll until it is finished, then reload.
  var batch = document.querySelector("[data-progress-url]");
  if (batch) {
    var bar = batch.querySelector("[data-progress-bar]");
    var text = batch.querySelector("[data-progress-text]");
    var poll = function () {
      fetch(batch.dataset.progressUrl, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (p) {
          if (bar) bar.value = p.percent;
          if (text) text.textContent = p.text || (p.generated.toLocaleString() + " of " + p.quantity.toLocaleString());
          if (["queued", "running", "validating", "importing"].indexOf(p.status) < 0) window.location.reload();
          else window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 1000);
  }

  // Guess odds on Generate Codes, updated as the quantity and width change.
  var form = document.getElementById("generate-form");
  if (form && window.BigInt) {
    var data = JSON.parse(form.dataset.odds);
    var out = form.querySelector("[data-odds-text]");
    var qty = form.querySelector("[name=quantity]");
    var width = form.querySelector("[name=width]");
    var update = function () {
      var q = parseInt(qty.value, 10);
      var w = parseInt(width.value, 10);
      if (!(q > 0) || !(w >= 6)) return;
      var total = BigInt(data.existing[w] || 0) + BigInt(q);
      var space = BigInt(data.base) ** BigInt(w - 1);
      var oneIn = space / total;
      var msg = "Codes will look like " + (form.dataset.prefix || "") + "X".repeat(w) + ". " +
        "With " + total.toLocaleString() + " codes of width " + w + ", 1 in " +
        oneIn.toLocaleString() + " random guesses hits a code.";
      var safe = oneIn >= BigInt(data.minOdds);
      if (!safe) {
        var s = 6;
        while (s <= 20 && (BigInt(data.base) ** BigInt(s - 1)) / total < BigInt(data.minOdds)) s++;
        msg += s <= 20 ? " Too guessable: choose a width of at least " + s + "." : " Too guessable: generate fewer codes.";
      }
      out.textContent = msg;
      out.classList.toggle("unsafe", !safe);
    };
    qty.addEventListener("input", update);
    width.addEventListener("change", update);
    update();
  }

  // Copy buttons: data-copy names the field whose text goes to the clipboard.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.querySelector(button.dataset.copy);
      if (!field) return;
      var done = function () {
        var label = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done);
      } else {
        field.select();
        document.execCommand("copy");
        done();
      }
    });
  });

  // Time zone page: offer the browser's own zone when the list has it.
  var hint = document.querySelector("[data-browser-zone]");
  var select = document.getElementById("id_time_zone");
  var browserZone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (hint && select && browserZone && select.value !== browserZone &&
      select.querySelector('option[value="' + browserZone + '"]')) {
    hint.querySelector("[data-browser-zone-name]").textContent = browserZone.replace(/_/g, " ");
    hint.hidden = false;
    hint.querySelector("[data-use-browser-zone]").addEventListener("click", function () {
      select.value = browserZone;
      select.focus();
    });
  }
})();
