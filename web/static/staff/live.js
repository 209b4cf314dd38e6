/* Live parts of the staff pages: ticking timers, the /ws connection and live rows.
 *
 * Rows: on a "ticket" message the page fetches /staff/tickets/{number}/row with its own
 * filters; 200 gives the row's HTML (insert or replace), 204 means "not in this list any
 * more" (remove). Timers tick every second from data-since (UTC, corrected for clock skew);
 * a row whose timer passes data-limit (seconds) turns red.
 * Every message is re-dispatched as a "cc:message" DOM event, so other scripts share this
 * one socket: telephony/pop.js draws the screen pops ("pop" messages) into #pops, the
 * calls board and the supervisors' counts refresh themselves.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var skew = Date.parse(script.dataset.serverNow) - Date.now();
  if (!isFinite(skew)) { skew = 0; }
  var list = document.querySelector("[data-live-list]");
  var ticketPage = document.getElementById("ticket-page");
  var statusBox = document.getElementById("live-status");
  var chains = {};

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function tick() {
    var now = Date.now() + skew;
    document.querySelectorAll(".timer[data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      if (!isFinite(since)) { return; }
      var secs = Math.max(0, Math.floor((now - since) / 1000));
      el.textContent = Math.floor(secs / 60) + ":" + pad(secs % 60);
      var row = el.closest(".ticket-row");
      if (row && row.dataset.limit) { row.classList.toggle("overdue", secs > Number(row.dataset.limit)); }
    });
  }

  function rowFromHtml(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    return tpl.content.querySelector("tr");
  }

  function placeRow(row) {
    var body = list.tBodies[0];
    var existing = body.querySelector('tr[data-number="' + row.dataset.number + '"]');
    if (existing) { existing.replaceWith(row); row.classList.add("flash"); return; }
    if (list.dataset.firstPage !== "1") { return; }
    var id = Number(row.dataset.id);
    var empty = body.querySelector("tr.empty-row");
    if (empty) { empty.remove(); }
    var rows = body.querySelectorAll("tr[data-id]");
    for (var i = 0; i < rows.length; i++) {
      if (Number(rows[i].dataset.id) < id) { body.insertBefore(row, rows[i]); row.classList.add("flash"); return; }
    }
    if (rows.length < Number(list.dataset.pageSize || 50)) { body.appendChild(row); row.classList.add("flash"); }
  }

  function refreshRow(number) {
    var url = "/staff/tickets/" + encodeURIComponent(number) + "/row?" + (list.dataset.liveQuery || "");
    var previous = chains[number] || Promise.resolve();
    // One fetch at a time per ticket, so an older answer never replaces a newer one.
    chains[number] = previous.then(function () {
      return fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}}).then(function (resp) {
        var existing = list.tBodies[0].querySelector('tr[data-number="' + number + '"]');
        if (resp.status === 204) { if (existing) { existing.remove(); } return; }
        if (!resp.ok) { return; }
        return resp.text().then(function (html) { var row = rowFromHtml(html); if (row) { placeRow(row); tick(); } });
      });
    }).catch(function (err) { console.warn("row refresh failed", number, err); });
  }

  function onMessage(m) {
    if (m.type === "hello") { document.body.dataset.live = "connected"; return; }
    if (m.type === "ticket") {
      if (list) { refreshRow(m.number); }
      if (ticketPage && m.number === ticketPage.dataset.number && Number(m.version) > Number(ticketPage.dataset.version)) {
        document.getElementById("stale-banner").hidden = false;
      }
    }
    if (m.type === "incident" && list && (m.change === "linked" || m.change === "subscribed")) {
      // a ticket folded under an outage's master: the master row's «привязано» count moves
      var master = list.querySelector('tr[data-incident-master="' + Number(m.id) + '"]');
      if (master) { refreshRow(master.dataset.number); }
    }
    document.dispatchEvent(new CustomEvent("cc:message", {detail: m}));
  }

  var delay = 1000;
  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    var downTimer = setTimeout(function () { statusBox.hidden = false; }, 3000);
    ws.onopen = function () { delay = 1000; clearTimeout(downTimer); statusBox.hidden = true; };
    ws.onmessage = function (e) { try { onMessage(JSON.parse(e.data)); } catch (err) { console.warn(err); } };
    ws.onclose = function (e) {
      clearTimeout(downTimer);
      document.body.dataset.live = "closed";
      if (e.code === 4001) { location.href = "/login"; return; }
      statusBox.hidden = false;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  // Supervisors' board: refetch the counts table when anything moves (at most every 2 s).
  var counts = document.getElementById("counts");
  if (counts) {
    var pending = null;
    document.addEventListener("cc:message", function () {
      if (pending) { return; }
      pending = setTimeout(function () {
        pending = null;
        fetch(counts.dataset.countsUrl, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) { if (html) { counts.innerHTML = html; } });
      }, 2000);
    });
  }

  tick();
  setInterval(tick, 1000);
  if ("WebSocket" in window) { connect(); }
})();
