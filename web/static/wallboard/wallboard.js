/* The wallboard (/staff/wallboard): large figures readable across the room.
 *
 * Starts from the state embedded in the page (#wb-state), then follows /ws "wallboard"
 * messages (at most one a second). Waits and times in a state tick every second from the
 * server's timestamps, corrected by the difference between the server's clock and ours.
 * Definitions of every figure: docs/wallboard.md.
 */
(function () {
  "use strict";

  var holder = document.getElementById("wb-state");
  if (!holder) { return; }
  var state = JSON.parse(holder.textContent);
  var skew = Date.parse(state.server_now) - Date.now();
  var retry = 1000;

  function now() { return Date.now() + skew; }
  function $(id) { return document.getElementById(id); }

  function clock(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) { return "—"; }
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(s).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  function since(iso) { return iso ? clock((now() - Date.parse(iso)) / 1000) : "—"; }
  function percent(value) { return value === null || value === undefined ? "—" : Math.round(value * 100) + " %"; }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function timer(iso) {
    var td = el("td", "wb-timer", since(iso));
    if (iso) { td.setAttribute("data-since", iso); }
    return td;
  }

  function level(value, tile) {
    if (!tile) { return; }
    tile.classList.remove("wb-good", "wb-bad");
    if (value === null || value === undefined) { return; }
    tile.classList.add(value >= 0.8 ? "wb-good" : "wb-bad");
  }

  function renderTiles() {
    var today = state.total.today, hour = state.total.last_hour;
    $("wb-waiting").textContent = state.waiting;
    $("wb-waiting").parentNode.classList.toggle("wb-bad", state.waiting > 0);
    var longest = $("wb-longest");
    longest.setAttribute("data-since", state.oldest_queued_at || "");
    longest.textContent = state.oldest_queued_at ? since(state.oldest_queued_at) : "—";
    $("wb-sl-today").textContent = percent(today.service_level);
    level(today.service_level, $("wb-sl-today").parentNode);
    $("wb-sl-hour").textContent = percent(hour.service_level);
    level(hour.service_level, $("wb-sl-hour").parentNode);
    $("wb-abandoned").textContent = percent(today.abandoned_share);
    $("wb-asa").textContent = clock(today.asa_seconds);
    $("wb-aht").textContent = clock(today.aht_seconds);
    $("wb-answered").textContent = today.answered;
  }

  function renderQueues() {
    var body = $("wb-queues");
    body.textContent = "";
    state.queues.forEach(function (q) {
      var row = el("tr");
      row.setAttribute("data-queue", q.name);
      row.appendChild(el("td", "wb-name", q.name));
      row.appendChild(el("td", "wb-num", String(q.waiting)));
      row.appendChild(timer(q.oldest_queued_at));
      row.appendChild(el("td", "wb-num", percent(q.today.service_level)));
      row.appendChild(el("td", "wb-num", percent(q.last_hour.service_level)));
      row.appendChild(el("td", "wb-num", percent(q.today.abandoned_share)));
      row.appendChild(el("td", "wb-num", String(q.today.answered)));
      body.appendChild(row);
    });
  }

  function renderOperators() {
    var body = $("wb-operators");
    body.textContent = "";
    state.operators.forEach(function (op) {
      var status = op.status;
      if (status === "wrapup" && op.wrapup_until && Date.parse(op.wrapup_until) <= now()) { status = "free"; }
      var row = el("tr", "wb-op wb-op-" + status);
      row.setAttribute("data-interface", op.interface);
      row.setAttribute("data-status", status);
      row.appendChild(el("td", "wb-name", op.name));
      var label = status === op.status ? op.status_label : "свободен";
      var cell = el("td", "wb-status", label);
      if (status === "paused" && op.pause_reason) {
        cell.appendChild(el("span", "wb-reason", " · " + op.pause_reason));
      }
      row.appendChild(cell);
      row.appendChild(timer(op.since));
      row.appendChild(el("td", "wb-num", String(op.handled_today)));
      row.appendChild(el("td", "wb-num", String(op.missed_today)));
      body.appendChild(row);
    });
    $("wb-operators-empty").hidden = state.operators.length > 0;
  }

  function renderPanels() {
    var box = $("wb-panels");
    box.textContent = "";
    (state.panels || []).forEach(function (panel) {
      var card = el("section", "wb-card wb-panel");
      card.setAttribute("data-panel", panel.key);
      card.appendChild(el("h2", "", panel.title));
      var list = el("ul");
      panel.lines.forEach(function (line) { list.appendChild(el("li", "wb-line wb-" + (line.level || "info"), line.text)); });
      if (!panel.lines.length) { list.appendChild(el("li", "wb-line wb-none", "нет")); }
      card.appendChild(list);
      box.appendChild(card);
    });
  }

  function render() {
    var link = $("wb-link");
    link.textContent = state.link_label;
    link.className = "wb-link wb-link-" + state.link;
    renderTiles();
    renderQueues();
    renderOperators();
    renderPanels();
    document.body.setAttribute("data-updated", state.server_now);
  }

  function tick() {
    var cells = document.querySelectorAll("[data-since]");
    for (var i = 0; i < cells.length; i++) {
      var iso = cells[i].getAttribute("data-since");
      cells[i].textContent = iso ? since(iso) : "—";
    }
    $("wb-clock").textContent = new Date(now()).toLocaleTimeString("ru-RU", {timeZone: "Europe/Simferopol", hour: "2-digit", minute: "2-digit"});
    var rows = document.querySelectorAll("tr[data-status=wrapup]");
    if (rows.length) { renderOperators(); }
  }

  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onopen = function () { retry = 1000; document.body.removeAttribute("data-offline"); };
    ws.onmessage = function (e) {
      var message;
      try { message = JSON.parse(e.data); } catch (err) { return; }
      if (message.type === "hello") { document.body.setAttribute("data-live", "1"); }
      if (message.type !== "wallboard") { return; }
      state = message;
      skew = Date.parse(state.server_now) - Date.now();
      render();
    };
    ws.onclose = function () {
      document.body.setAttribute("data-offline", "1");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  render();
  tick();
  setInterval(tick, 1000);
  connect();
})();
