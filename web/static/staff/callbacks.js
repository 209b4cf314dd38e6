/* The supervisors' callback board refreshes itself: on a "callback" message from /ws
 * (shared through live.js's "cc:message" event) it re-fetches this page, at most once every
 * two seconds, and swaps in the cards that have an id. Forms being typed in are left alone. */
(function () {
  "use strict";
  var pending = null;
  var last = 0;

  function refresh() {
    pending = null;
    last = Date.now();
    fetch(window.location.href, {headers: {"Accept": "text/html"}, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("main section.card[id]").forEach(function (card) {
          if (card.contains(document.activeElement) && document.activeElement !== document.body) { return; }
          var replacement = fresh.getElementById(card.id);
          if (replacement) { card.replaceWith(document.importNode(replacement, true)); }
        });
      })
      .catch(function () { /* the next message tries again */ });
  }

  document.addEventListener("cc:message", function (event) {
    if (!event.detail || event.detail.type !== "callback" || pending) { return; }
    pending = setTimeout(refresh, Math.max(0, 2000 - (Date.now() - last)));
  });
})();
