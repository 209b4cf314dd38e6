/* The supervisors' live calls board (/staff/calls).
 *
 * Starts from the state embedded in the page (#calls-state), then follows /ws:
 *   {"type": "board"}                  -> the whole live board (at most twice a second),
 *   {"type": "call", change: "missed"} -> a caller gave up waiting: a row to call back,
 *   {"type": "call", change: "ended"}  -> an answered call from a missed number marks it reached.
 * Waits and talk times tick every second from the server's timestamps (corrected by
 * the difference between the server's clock and this computer's).
 */
(function () {
  "use strict";

  var holder = document.getElementById("calls-state");
  if (!holder) { return; }
  var state = JSON.parse(holder.textContent);
  var skew = Date.parse(state.server_now) - Date.now();
  var retry = 1000;

  function now() { return Date.now() + skew; }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function cell(row, text, className) {
    var td = el("td", className || "", text);
    row.appendChild(td);
    return td;
  }

  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(s).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  function since(iso, fallback) {
    var td = el("td", "calls-timer", fallback || "");
    if (iso) {
      td.setAttribute("data-since", iso);
      td.textContent = clock((now() - Date.parse(iso)) / 1000);
    }
    return td;
  }

  function hhmm(iso) {
    if (!iso) { return "—"; }
    return new Date(iso).toLocaleTimeString("ru-RU", {hour: "2-digit", minute: "2-digit"});
  }

  function ivr(call) {
    return call.ivr_steps && call.ivr_steps.length ? call.ivr_steps.join(" → ") : (call.ivr_path || "—");
  }

  function caller(row, call) {
    var td = cell(row, call.caller_display, "calls-number");
    if (call.caller_name) { td.appendChild(el("div", "muted small", call.caller_name)); }
  }

  function fill(name, rows, build) {
    var body = document.getElementById("calls-" + name);
    var empty = document.querySelector('[data-empty="' + name + '"]');
    var count = document.querySelector('[data-count="' + name + '"]');
    body.replaceChildren.apply(body, rows.map(build));
    if (empty) { empty.hidden = rows.length > 0; }
    if (count) { count.textContent = String(rows.length); }
  }

  function queuedRow(call) {
    var row = el("tr");
    row.setAttribute("data-linkedid", call.linkedid);
    caller(row, call);
    row.appendChild(since(call.queued_at));
    cell(row, ivr(call));
    cell(row, call.ringing.map(function (r) { return r.name || r.interface; }).join(", ") || "—");
    return row;
  }

  function talkingRow(call) {
    var row = el("tr");
    row.setAttribute("data-linkedid", call.linkedid);
    caller(row, call);
    cell(row, call.operator || call.operator_interface || "—");
    row.appendChild(since(call.answered_at || call.arrived_at));
    cell(row, call.wait_seconds === null ? "—" : clock(call.wait_seconds));
    return row;
  }

  function ivrRow(call) {
    var row = el("tr");
    row.setAttribute("data-linkedid", call.linkedid);
    caller(row, call);
    row.appendChild(since(call.arrived_at));
    cell(row, ivr(call));
    return row;
  }

  function dialingRow(call) {
    var row = el("tr");
    row.setAttribute("data-linkedid", call.linkedid);
    caller(row, call);
    row.appendChild(since(call.arrived_at));
    cell(row, call.ticket ? "№ " + call.ticket : "—");
    return row;
  }

  function operatorRow(op) {
    var row = el("tr", "operator-" + op.state);
    row.setAttribute("data-interface", op.interface);
    cell(row, op.name);
    cell(row, op.interface, "muted small");
    var label = op.state_label;
    if (!op.available) { label = "не в сети"; } else if (op.paused) { label += " (перерыв)"; }
    cell(row, label, "operator-state");
    return row;
  }

  function missedRow(call) {
    var row = el("tr", call.reached_at ? "missed-reached" : "missed-open");
    row.setAttribute("data-linkedid", call.linkedid);
    cell(row, hhmm(call.started_at));
    cell(row, call.caller_display || call.caller || "номер скрыт", "calls-number");
    cell(row, call.wait_seconds === null || call.wait_seconds === undefined ? "—" : clock(call.wait_seconds));
    cell(row, ivr(call));
    cell(row, call.reached_at ? "связались в " + hhmm(call.reached_at) : "перезвонить", "missed-status");
    var actions = cell(row, "");
    if (call.caller) {
      var tickets = el("a", "", "заявки");
      tickets.href = "/staff/?phone=" + encodeURIComponent(call.caller);
      actions.appendChild(tickets);
      actions.appendChild(document.createTextNode(" · "));
      var create = el("a", "", "новая заявка");
      create.href = "/staff/tickets/new?phone=" + encodeURIComponent(call.caller) + "&call=" + encodeURIComponent(call.linkedid);
      actions.appendChild(create);
    }
    if (call.ticket) { actions.appendChild(document.createTextNode(" · № " + call.ticket)); }
    return row;
  }

  function renderBoard(board) {
    var badge = document.getElementById("calls-link");
    badge.textContent = board.link_label;
    badge.className = "link-state link-" + board.link;
    fill("queued", board.queued, queuedRow);
    fill("talking", board.talking, talkingRow);
    fill("in_ivr", board.in_ivr, ivrRow);
    fill("dialing", board.dialing, dialingRow);
    fill("operators", board.operators, operatorRow);
  }

  function renderMissed() {
    fill("missed", state.missed, missedRow);
  }

  function onCall(m) {
    var call = m.call;
    if (m.change === "missed") {
      if (state.missed.some(function (c) { return c.linkedid === call.linkedid; })) { return; }
      state.missed.unshift({
        linkedid: call.linkedid, caller: call.caller, caller_display: call.caller_display,
        started_at: call.arrived_at, ended_at: call.ended_at, wait_seconds: call.wait_seconds,
        ivr_path: call.ivr_path, ivr_steps: call.ivr_steps, ticket: call.ticket, reached_at: null
      });
    } else if (m.change === "ended" && call.answered_at && call.caller) {
      state.missed.forEach(function (c) {
        if (c.caller === call.caller && !c.reached_at && c.started_at <= call.answered_at) { c.reached_at = call.answered_at; }
      });
    } else {
      return;
    }
    renderMissed();
  }

  function tick() {
    document.querySelectorAll("td.calls-timer[data-since]").forEach(function (td) {
      td.textContent = clock((now() - Date.parse(td.getAttribute("data-since"))) / 1000);
    });
  }

  function onMessage(m) {
    if (!m) { return; }
    if (m.type === "board") { state.board = m; renderBoard(m); }
    if (m.type === "call") { onCall(m); }
  }

  function listen() {
    // live.js (the staff layout) holds /ws and re-dispatches messages as "cc:message".
    if (document.querySelector('script[src*="/static/staff/live.js"]')) {
      document.addEventListener("cc:message", function (event) { onMessage(event.detail); });
      return;
    }
    connect();
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + "/ws");
    ws.addEventListener("open", function () { retry = 1000; });
    ws.addEventListener("message", function (event) {
      var m;
      try { m = JSON.parse(event.data); } catch (e) { return; }
      onMessage(m);
    });
    ws.addEventListener("close", function (event) {
      if (event.code === 4001) { return; }
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    });
  }

  state.missed.forEach(function (c) { c.caller_display = c.caller_display || c.caller; });
  renderBoard(state.board);
  renderMissed();
  setInterval(tick, 1000);
  listen();
}());
