// The incident board refreshes its figures and linked tickets in place when the server says the
// incident changed (an "incident" message over /ws: a call announced, a subscriber, a callback).
(function () {
  "use strict";
  var figures = document.querySelector(".incident-figures[data-incident-id]");
  if (!figures) { return; }
  var id = Number(figures.dataset.incidentId);
  var pending = null;
  function refresh() {
    fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["figures", "linked"].forEach(function (part) {
          var fresh = doc.querySelector('[data-board-part="' + part + '"]');
          var here = document.querySelector('[data-board-part="' + part + '"]');
          if (fresh && here) { here.innerHTML = fresh.innerHTML; }
        });
      }).catch(function () { /* the next message tries again */ });
  }
  document.addEventListener("cc:message", function (event) {
    var m = event.detail || {};
    if (m.type === "incident" && m.id === id) { clearTimeout(pending); pending = setTimeout(refresh, 300); }
    if (m.type === "callback") { clearTimeout(pending); pending = setTimeout(refresh, 1000); }
  });
})();
