/* The operator's pause page: Asterisk confirms a pause (QueueMemberPause) a moment after the
 * form was sent; the server then sends this user a "pause" message on /ws, and the page
 * reloads to show it. live.js owns the socket; it hands every message to window.onStaffMessage
 * hooks when present, else this page opens its own. */
(function () {
  "use strict";
  var box = document.getElementById("pause-box");
  if (!box) { return; }
  var shown = box.getAttribute("data-paused");
  function onMessage(message) {
    if (message.type !== "pause") { return; }
    if ((message.paused ? "1" : "0") !== shown) { location.reload(); }
  }
  var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  ws.onmessage = function (e) { try { onMessage(JSON.parse(e.data)); } catch (err) { /* not JSON */ } };
  ws.onopen = function () {
    // a pause confirmed between the form's answer and this socket: ask once
    fetch("/staff/pause/state", {headers: {Accept: "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (s) { if ((s.paused ? "1" : "0") !== shown) { location.reload(); } })
      .catch(function () {});
  };
})();
