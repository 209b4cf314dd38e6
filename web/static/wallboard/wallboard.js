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

  var SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  /* Today's calls per local hour: stacked bars (answered in time, answered later, abandoned,
     short abandons left out as in the shares), the busiest hour's total on the axis. */
  function renderChart() {
    var chart = $("wb-chart");
    if (!chart) { return; }
    chart.textContent = "";
    var hours = state.hours || [];
    var W = 640, H = 190, left = 34, top = 8, bottom = 26, plotH = H - top - bottom;
    var max = 0;
    hours.forEach(function (h) { max = Math.max(max, h.answered + h.abandoned - h.short_abandoned); });
    var yMax = Math.max(max, 1);
    var slot = (W - left) / Math.max(hours.length, 1);
    chart.appendChild(svg("line", {x1: left, y1: top + plotH, x2: W, y2: top + plotH, "class": "wb-axis"}));
    chart.appendChild(svg("text", {x: left - 4, y: top + 14, "text-anchor": "end", "class": "wb-tick"}, String(yMax)));
    chart.appendChild(svg("text", {x: left - 4, y: top + plotH, "text-anchor": "end", "class": "wb-tick"}, "0"));
    var every = hours.length > 12 ? 3 : (hours.length > 6 ? 2 : 1);
    hours.forEach(function (h, i) {
      var x = left + i * slot + slot * 0.12, w = slot * 0.76, y = top + plotH;
      var abandoned = h.abandoned - h.short_abandoned;
      var group = svg("g", {"data-hour": h.hour, "data-answered": h.answered, "data-abandoned": abandoned});
      group.appendChild(svg("title", {}, h.hour + ": отвечено " + h.answered + " (вовремя " + h.answered_in_time +
        "), не дождались " + abandoned + ", уровень " + percent(h.service_level)));
      [["wb-bar-in-time", h.answered_in_time], ["wb-bar-late", h.answered - h.answered_in_time],
       ["wb-bar-abandoned", abandoned]].forEach(function (part) {
        var height = plotH * part[1] / yMax;
        if (height <= 0) { return; }
        y -= height;
        group.appendChild(svg("rect", {x: x, y: y, width: w, height: height, "class": part[0]}));
      });
      if (i % every === 0 || i === hours.length - 1) {
        group.appendChild(svg("text", {x: x + w / 2, y: H - 6, "text-anchor": "middle", "class": "wb-tick"}, h.hour.slice(0, 2)));
      }
      chart.appendChild(group);
    });
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
    renderChart();
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
