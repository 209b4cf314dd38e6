// "Назад" on error pages: go back in history when there is somewhere to go, else follow the link.
// (A static file: the Content-Security-Policy allows no inline script and no javascript: URLs.)
(function () {
  "use strict";
  document.querySelectorAll("a[data-history-back]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (window.history.length > 1) {
        event.preventDefault();
        window.history.back();
      }
    });
  });
})();
