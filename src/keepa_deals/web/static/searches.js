// Saved searches on the deal page: save the current filters, create an alert, delete a chip.
// The filters come from the page (data-filter, the server's own reading of the URL).
(function () {
  "use strict";
  var status = document.getElementById("save-status");

  function say(text, bad) {
    if (!status) return;
    status.textContent = text;
    status.className = "save-status" + (bad ? " bad" : "");
  }

  function post(body) {
    return fetch("/api/searches", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(data.message || data.detail || ("HTTP " + r.status));
        return data;
      });
    });
  }

  function done(form, what) {
    return function (saved) {
      say(what + " “" + saved.name + "” saved" +
          (saved.alert ? ": new deals go to " + saved.to.join(", ") : "") + ".");
      form.reset();
      setTimeout(function () { window.location.reload(); }, 600);
    };
  }

  var searchForm = document.getElementById("save-search");
  if (searchForm) {
    searchForm.addEventListener("submit", function (e) {
      e.preventDefault();
      post({ name: searchForm.elements.name.value, filter: searchForm.dataset.filter })
        .then(done(searchForm, "Search"), function (err) { say(err.message, true); });
    });
  }

  var alertForm = document.getElementById("save-alert");
  if (alertForm) {
    alertForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var digest = alertForm.elements.digest_s.value;
      var alert = { to: [alertForm.elements.to.value] };
      if (digest) alert.digest_s = parseInt(digest, 10);
      post({ name: alertForm.elements.name.value, filter: alertForm.dataset.filter, alert: alert })
        .then(done(alertForm, "Alert"), function (err) { say(err.message, true); });
    });
  }

  document.querySelectorAll("[data-delete]").forEach(function (button) {
    button.addEventListener("click", function () {
      var name = button.dataset.delete;
      if (!window.confirm("Delete the saved search “" + name + "”?")) return;
      fetch("/api/searches/" + encodeURIComponent(name),
            { method: "DELETE", credentials: "same-origin" })
        .then(function (r) {
          if (!r.ok && r.status !== 404) throw new Error("HTTP " + r.status);
          var chip = button.closest(".chip");
          if (chip) chip.remove();
          say("Deleted “" + name + "”.");
        })
        .catch(function (err) { say(err.message, true); });
    });
  });
})();
