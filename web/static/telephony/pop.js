/* Screen pop: when this operator's phone rings, show who is calling and what they asked before.
 *
 * Included once by the staff layout (web/templates/staff/base.html) with
 * data-device="<the user's phone interface>"; a user without a phone gets nothing.
 * Follows {"type": "pop"} messages from /ws (the server sends each operator only their
 * own; through live.js's "cc:message" events where the page has it) and keeps one
 * panel per call in #pops:
 *   state ringing  -> panel opens (caller, IVR choices; then history, draft),
 *   state talking  -> the operator answered: the panel stays while they talk,
 *   state closed   -> the phone stopped ringing unanswered here: the panel goes,
 *   state ended    -> the call is over: the panel stays until closed by hand;
 *   update live    -> what the caller says (live transcript), while it still rings, with the
 *                     open tickets already at the place it suggests («Похожие открытые заявки»).
 *                     Once the suggestion has a point, a small map (the vendored Leaflet, loaded on
 *                     first need, tiles from data-tile-url = settings.tile_url) marks it and those
 *                     tickets; the map element is kept across updates: its markers move, it is
 *                     never re-created. Without a point: «Адрес ещё не распознан».
 * And {"type": "conversation"} messages (the live conversation transcript, where the deployment
 * turned it on: CALLCENTER_LIVE_CONVERSATION) while the operator talks, in the same panel:
 *   state started  -> «Расшифровка разговора» opens,
 *   state line     -> one finished phrase, «Абонент» or «Оператор»,
 *   state partial  -> the phrase being said (replaced by its line),
 *   state ended    -> every line as kept on the call's record (saved true/false).
 * All text is set with textContent: nothing from the server is parsed as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.dataset.device) { return; }

  var TITLES = {
    ringing: "Входящий звонок",
    talking: "Идёт разговор",
    ended: "Звонок завершён"
  };
  var panels = {};        // linkedid -> {el, message}
  var maps = {};          // linkedid -> {box, map, place, tickets: {number: marker}}
  var retry = 1000;
  var LEAFLET = "/static/vendor/leaflet-1.9.4/";
  var leaflet = null;     // a promise of window.L once leaflet.js is loaded

  function stylesheet() {
    if (document.querySelector("link[data-telephony-css]")) { return; }
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = "/static/telephony/telephony.css";
    link.setAttribute("data-telephony-css", "");
    document.head.appendChild(link);
  }

  function container() {
    var box = document.getElementById("pops");
    if (!box) {
      box = document.createElement("div");
      box.id = "pops";
      box.className = "pops";
      box.setAttribute("aria-live", "assertive");
      document.body.appendChild(box);
    }
    return box;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function link(href, className, text) {
    var a = el("a", className, text);
    a.href = href;
    return a;
  }

  function localDate(iso) {
    var d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleDateString("ru-RU");
  }

  function callerBlock(m) {
    var box = el("div", "pop-caller");
    box.appendChild(el("strong", "pop-number", m.caller_display || "номер скрыт"));
    if (m.citizen) {
      box.appendChild(el("span", "pop-citizen", m.citizen));
    } else if (m.caller_name && m.caller_name !== m.caller) {
      box.appendChild(el("span", "pop-citizen muted", m.caller_name));
    }
    return box;
  }

  function ivrBlock(m) {
    var box = el("div", "pop-ivr");
    var steps = m.ivr_steps || [];
    box.appendChild(el("span", "muted", "Голосовое меню: "));
    box.appendChild(document.createTextNode(steps.length ? steps.join(" → ") : "сразу к оператору"));
    return box;
  }

  function draftBlock(d) {
    var box = el("div", "pop-draft");
    box.appendChild(el("div", "pop-draft-head", "Черновик из голосового сообщения этого звонка"));
    var line = el("div");
    line.appendChild(link(d.url, "", "№ " + d.number));
    line.appendChild(document.createTextNode(" · " + (d.category_name || "категория не распознана")));
    box.appendChild(line);
    if (d.description) { box.appendChild(el("blockquote", "pop-draft-text", d.description)); }
    box.appendChild(link(d.confirm_url, "button pop-confirm", "Проверить и подтвердить черновик"));
    return box;
  }

  // What the caller is saying (AudioSocket + live speech recognition): updated while it rings.
  function liveBlock(l, linkedid) {
    var box = el("div", "pop-live");
    box.setAttribute("data-final", l.final ? "1" : "0");
    box.appendChild(el("div", "pop-live-head", l.final ? "Сообщение звонящего (распознано)" : "Звонящий говорит…"));
    box.appendChild(el("blockquote", "pop-live-text", l.text || "…"));
    var s = l.suggestion;
    if (s && (s.category_name || s.address)) {
      var line = el("div", "pop-live-suggestion");
      line.appendChild(el("span", "muted", "Предположительно: "));
      line.appendChild(document.createTextNode([s.category_name, s.address].filter(Boolean).join(" · ")));
      box.appendChild(line);
    }
    if (point(s)) {
      box.appendChild(mapBox(linkedid));
      var osm = link("https://www.openstreetmap.org/?mlat=" + s.lat + "&mlon=" + s.lon + "#map=17/" + s.lat + "/" + s.lon,
        "pop-live-map", "открыть на карте");
      osm.target = "_blank";
      osm.rel = "noopener";
      box.appendChild(osm);
    } else {
      box.appendChild(el("p", "pop-map-none muted", "Адрес ещё не распознан"));
    }
    if (l.nearby && l.nearby.length) { box.appendChild(nearbyBlock(l.nearby)); }
    return box;
  }

  function point(p) {
    return !!p && typeof p.lat === "number" && typeof p.lon === "number" && isFinite(p.lat) && isFinite(p.lon);
  }

  // --- the small map: one Leaflet map per panel, kept while the panel is redrawn -------------

  function loadLeaflet() {
    if (window.L) { return Promise.resolve(window.L); }
    if (!leaflet) {
      leaflet = new Promise(function (resolve, reject) {
        var css = document.createElement("link");
        css.rel = "stylesheet";
        css.href = LEAFLET + "leaflet.css";
        document.head.appendChild(css);
        var js = document.createElement("script");
        js.src = LEAFLET + "leaflet.js";
        js.addEventListener("load", function () { resolve(window.L); });
        js.addEventListener("error", function () { leaflet = null; reject(new Error("leaflet.js")); });
        document.head.appendChild(js);
      });
    }
    return leaflet;
  }

  function mapBox(linkedid) {
    if (!maps[linkedid]) {
      var box = el("div", "pop-map");
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", "Место, названное звонящим, и открытые заявки рядом");
      maps[linkedid] = {box: box, map: null, place: null, tickets: {}};
    }
    return maps[linkedid].box;
  }

  // After each render: draw or move the markers of the panel's map (if it shows one).
  function drawMap(linkedid, live) {
    var m = maps[linkedid];
    if (!m || !live || !point(live.suggestion) || !m.box.isConnected) { return; }
    loadLeaflet().then(function (L) {
      if (!maps[linkedid] || !m.box.isConnected) { return; }  // the panel went while loading
      placeMarkers(L, m, live);
    }).catch(function () { m.box.setAttribute("data-error", "leaflet"); });
  }

  function placeMarkers(L, m, live) {
    var s = live.suggestion;
    var here = [s.lat, s.lon];
    if (!m.map) {
      m.map = L.map(m.box, {center: here, zoom: 17, zoomControl: false, attributionControl: true});
      var tiles = L.tileLayer(script.dataset.tileUrl, {maxZoom: 19, attribution: "&copy; участники OpenStreetMap"});
      tiles.on("tileerror", function () { m.box.setAttribute("data-tiles-failed", "1"); });
      if (script.dataset.tileUrl) { tiles.addTo(m.map); }
      m.place = L.circleMarker(here, {radius: 9, color: "#fff", weight: 2, fillColor: "#d9480f", fillOpacity: 1,
        className: "pop-map-place"}).bindTooltip("Адрес звонящего").addTo(m.map);
    } else {
      m.map.invalidateSize();  // the box moved into the redrawn panel
      var before = m.place.getLatLng();
      if (before.lat !== s.lat || before.lng !== s.lon) {
        m.place.setLatLng(here);
        m.map.panTo(here);
      }
    }
    placeTickets(L, m, live.nearby || []);
    m.box.setAttribute("data-lat", String(s.lat));
    m.box.setAttribute("data-lon", String(s.lon));
  }

  // The nearby open tickets with a point: each marker's popup links to its ticket.
  function placeTickets(L, m, nearby) {
    var wanted = {};
    nearby.filter(point).forEach(function (t) {
      wanted[t.number] = true;
      var marker = m.tickets[t.number];
      if (marker) {
        marker.setLatLng([t.lat, t.lon]);
        return;
      }
      var popup = el("div", "pop-map-popup");
      popup.appendChild(link(t.url, "", "Заявка № " + t.number));
      popup.appendChild(el("div", "", [t.category_name || t.category, t.status_label].filter(Boolean).join(" · ")));
      marker = L.circleMarker([t.lat, t.lon], {radius: 7, color: "#fff", weight: 2, fillColor: "#2a6fdb",
        fillOpacity: 1, className: "pop-map-ticket pop-map-ticket-" + t.number}).bindPopup(popup).addTo(m.map);
      m.tickets[t.number] = marker;
    });
    Object.keys(m.tickets).forEach(function (number) {
      if (!wanted[number]) {
        m.tickets[number].remove();
        delete m.tickets[number];
      }
    });
    m.box.setAttribute("data-tickets", String(Object.keys(m.tickets).length));
  }

  function dropMap(linkedid) {
    var m = maps[linkedid];
    if (!m) { return; }
    if (m.map) { m.map.remove(); }
    delete maps[linkedid];
  }

  // Open tickets already at the place the caller names (the duplicates search), found live.
  function nearbyBlock(list) {
    var box = el("div", "pop-nearby");
    box.appendChild(el("div", "pop-nearby-head", "Похожие открытые заявки"));
    var ul = el("ul", "pop-nearby-list");
    list.forEach(function (t) {
      var li = el("li");
      li.appendChild(link(t.url, "", "№ " + t.number));
      var parts = [t.category_name || t.category, t.address, t.status_label];
      if (t.distance_m !== null && t.distance_m !== undefined) { parts.push(t.distance_m + " м"); }
      li.appendChild(document.createTextNode(" · " + parts.filter(Boolean).join(" · ")));
      ul.appendChild(li);
    });
    box.appendChild(ul);
    return box;
  }

  // The operator's conversation with the caller, transcribed while they talk.
  function conversationBlock(c) {
    var box = el("div", "pop-conversation");
    box.setAttribute("data-ended", c.ended ? "1" : "0");
    box.appendChild(el("div", "pop-conversation-head",
      c.ended ? "Расшифровка разговора (звонок завершён)" : "Расшифровка разговора (в реальном времени)"));
    var list = el("ol", "pop-conversation-lines");
    c.lines.forEach(function (line) {
      var li = el("li", "pop-line pop-line-" + line.party);
      li.appendChild(el("strong", "pop-line-speaker", line.speaker + ": "));
      li.appendChild(document.createTextNode(line.text));
      list.appendChild(li);
    });
    ["caller", "operator"].forEach(function (party) {
      var partial = c.partial[party];
      if (!c.ended && partial) {
        var li = el("li", "pop-line pop-line-partial pop-line-" + party);
        li.appendChild(el("strong", "pop-line-speaker", (party === "caller" ? "Абонент" : "Оператор") + ": "));
        li.appendChild(document.createTextNode(partial + "…"));
        list.appendChild(li);
      }
    });
    if (!list.childNodes.length) { list.appendChild(el("li", "muted", "Слушаем…")); }
    box.appendChild(list);
    if (c.ended) {
      box.appendChild(el("p", c.saved ? "muted" : "pop-warning",
        c.saved ? "Расшифровка сохранена в записи звонка." : "Расшифровку не удалось сохранить."));
    }
    return box;
  }

  function conversation(m) {
    var known = panels[m.linkedid];
    if (!known) { return; }
    var c = known.message.conversation || {lines: [], partial: {}, ended: false, saved: false};
    c = {lines: c.lines.slice(), partial: Object.assign({}, c.partial), ended: c.ended, saved: c.saved};
    if (m.state === "line") {
      c.lines.push({party: m.party, speaker: m.speaker, text: m.text});
      c.partial[m.party] = "";
    } else if (m.state === "partial") {
      c.partial[m.party] = m.text;
    } else if (m.state === "ended") {
      c.lines = (m.lines || c.lines).map(function (l) { return {party: l.party, speaker: l.speaker, text: l.text}; });
      c.ended = true;
      c.saved = !!m.saved;
    }
    show({linkedid: m.linkedid, conversation: c});
  }

  function ticketRow(t) {
    var row = el("tr", t.open ? "pop-open" : "");
    var number = el("td");
    number.appendChild(link(t.url, "", t.number));
    row.appendChild(number);
    row.appendChild(el("td", "", localDate(t.created_at)));
    row.appendChild(el("td", "", t.channel_label));
    row.appendChild(el("td", "badge-cell", t.status_label));
    row.appendChild(el("td", "", t.category_name || t.title || "—"));
    return row;
  }

  function historyBlock(m) {
    var box = el("div", "pop-history");
    if (!m.complete) {
      box.appendChild(el("p", "muted", "Загружаем обращения с этого номера…"));
      return box;
    }
    if (m.history_error) {
      box.appendChild(el("p", "pop-warning", m.history_error));
      return box;
    }
    var tickets = m.tickets || [];
    if (!tickets.length) {
      box.appendChild(el("p", "muted", m.caller ? "С этого номера обращений не было." : "Номер скрыт: история неизвестна."));
      return box;
    }
    box.appendChild(el("div", "pop-history-head", "Обращения с этого номера (все каналы)"));
    var table = el("table", "compact pop-tickets");
    var body = el("tbody");
    tickets.forEach(function (t) { body.appendChild(ticketRow(t)); });
    table.appendChild(body);
    box.appendChild(table);
    return box;
  }

  function render(m) {
    var panel = el("section", "pop pop-" + m.state);
    panel.setAttribute("data-linkedid", m.linkedid);
    panel.setAttribute("data-state", m.state);
    panel.setAttribute("data-complete", m.complete ? "1" : "0");
    var head = el("header", "pop-head");
    head.appendChild(el("span", "pop-title", TITLES[m.state] || TITLES.ringing));
    var close = el("button", "pop-close link-button", "×");
    close.type = "button";
    close.title = "Закрыть";
    close.setAttribute("aria-label", "Закрыть карточку звонка");
    close.addEventListener("click", function () { drop(m.linkedid); });
    head.appendChild(close);
    panel.appendChild(head);
    panel.appendChild(callerBlock(m));
    panel.appendChild(ivrBlock(m));
    if (m.live) { panel.appendChild(liveBlock(m.live, m.linkedid)); }
    if (m.conversation) { panel.appendChild(conversationBlock(m.conversation)); }
    if (m.draft) { panel.appendChild(draftBlock(m.draft)); }
    (m.incidents || []).forEach(function (i) {
      // outage mode: the caller's known address is inside an active incident
      var box = el("div", "pop-incident pop-warning");
      box.appendChild(el("strong", "", "Адрес заявителя в зоне аварии № " + i.id + ": " + i.category_name));
      box.appendChild(el("p", "", (i.address ? i.address + " — " : "") + i.area +
        (i.expected_local ? ". Ожидаемое восстановление: " + i.expected_local : "")));
      box.appendChild(link(i.url, "pop-incident-link", "Авария и главная заявка № " + (i.master_number || "")));
      panel.appendChild(box);
    });
    panel.appendChild(historyBlock(m));
    var foot = el("footer", "pop-actions");
    // A draft made during this call (the voice report) is where the ticket starts.
    if (m.draft) {
      foot.appendChild(link(m.draft.confirm_url, "button pop-new", "Оформить заявку из черновика"));
    } else {
      foot.appendChild(link(m.new_ticket_url, "button pop-new", "Создать заявку по звонку"));
    }
    panel.appendChild(foot);
    return panel;
  }

  function show(m) {
    var known = panels[m.linkedid];
    var merged = known ? Object.assign({}, known.message, m) : m;
    if (known && known.message.complete && !m.complete) { merged.complete = true; }
    var panel = render(merged);
    if (known) {
      known.el.replaceWith(panel);
    } else {
      container().prepend(panel);
    }
    panels[m.linkedid] = {el: panel, message: merged};
    drawMap(m.linkedid, merged.live);
  }

  function setState(linkedid, state) {
    var known = panels[linkedid];
    if (!known) { return; }
    show(Object.assign({}, known.message, {state: state}));
  }

  function drop(linkedid) {
    var known = panels[linkedid];
    if (!known) { return; }
    known.el.remove();
    delete panels[linkedid];
    dropMap(linkedid);
  }

  function handle(m) {
    if (m.update === "live") {
      var open = panels[m.linkedid];
      if (open && open.message.state === "ringing") { show({linkedid: m.linkedid, live: m.live}); }
      return;
    }
    if (m.state === "ringing" || (m.state === "talking" && m.caller_display !== undefined)) {
      show(m);
    } else if (m.state === "talking" || m.state === "ended") {
      setState(m.linkedid, m.state);
    } else if (m.state === "closed") {
      var known = panels[m.linkedid];
      if (known && known.message.state === "ringing") { drop(m.linkedid); }
    }
  }

  function listen() {
    // The staff pages' live.js already holds the /ws connection and re-dispatches every
    // message as a "cc:message" event: use it; open a socket only where it is absent.
    if (document.querySelector('script[src*="/static/staff/live.js"]')) {
      document.addEventListener("cc:message", function (event) {
        var m = event.detail;
        if (m && m.type === "pop") { handle(m); }
        if (m && m.type === "conversation") { conversation(m); }
      });
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
      if (m && m.type === "pop") { handle(m); }
      if (m && m.type === "conversation") { conversation(m); }
    });
    ws.addEventListener("close", function (event) {
      if (event.code === 4001) { return; }  // session revoked: the page will ask to sign in
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    });
  }

  stylesheet();
  container().dataset.owner = "telephony";  // #pops is drawn by this script only
  listen();
}());
