// The incident area editor: districts, streets with houses, polygons and circles drawn on the map.
// The area goes into the form's hidden "area" field as JSON (callcenter.domain.incidents.area_from_json)
// and the live count of open tickets and citizens inside is asked for after every change.
(function () {
  "use strict";
  var form = document.getElementById("incident-form");
  var mapEl = document.getElementById("incident-map");
  if (!form || !mapEl || !window.L) { return; }
  var field = document.getElementById("f-area");
  var counter = document.getElementById("inside-count");
  var csrf = (document.querySelector("input[name=csrf_token]") || {}).value || "";
  var map = L.map(mapEl).setView([44.6, 33.53], 12);
  L.tileLayer(mapEl.dataset.tileUrl, { maxZoom: 19, attribution: "© OpenStreetMap" }).addTo(map);
  var layer = L.layerGroup().addTo(map);
  var state = { polygons: [], circles: [], mode: "polygon", draft: [] };
  var draftLine = null;

  function load() {
    var data = {};
    try { data = JSON.parse(field.value || "{}") || {}; } catch (e) { data = {}; }
    state.polygons = (data.polygons || []).slice();
    state.circles = (data.circles || []).slice();
    (data.districts || []).forEach(function (d) {
      var box = form.querySelector('.area-district[value="' + d + '"]');
      if (box) { box.checked = true; }
    });
    document.getElementById("area-streets").value = (data.streets || []).map(function (s) {
      var houses = (s.houses || []).map(function (r) {
        var side = r[2] === "even" ? "чётные " : r[2] === "odd" ? "нечётные " : "";
        return side + (r[0] === r[1] ? r[0] : r[0] + "-" + r[1]);
      }).join(", ");
      return houses ? s.street + ": " + houses : s.street;
    }).join("\n");
  }

  function area() {
    var districts = Array.prototype.map.call(form.querySelectorAll(".area-district:checked"), function (b) { return b.value; });
    var streets = document.getElementById("area-streets").value.split("\n").map(function (line) {
      var parts = line.split(":");
      var street = parts[0].trim();
      return street ? { street: street, houses: (parts[1] || "").trim() } : null;
    }).filter(Boolean);
    return { districts: districts, streets: streets, circles: state.circles, polygons: state.polygons };
  }

  function draw() {
    layer.clearLayers();
    state.polygons.forEach(function (p) { L.polygon(p, { color: "#c0392b" }).addTo(layer); });
    state.circles.forEach(function (c) { L.circle([c.lat, c.lon], { radius: c.radius_m, color: "#c0392b" }).addTo(layer); });
    if (state.draft.length) { draftLine = L.polyline(state.draft, { dashArray: "4" }).addTo(layer); }
  }

  var pending = null;
  function changed() {
    field.value = JSON.stringify(area());
    draw();
    clearTimeout(pending);
    pending = setTimeout(count, 300);
  }

  function count() {
    fetch("/staff/incidents/count", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify({ area: area() })
    }).then(function (r) { return r.json(); }).then(function (data) {
      counter.textContent = data.error ? "Внутри: — (" + data.error + ")"
        : "Внутри: открытых заявок " + data.tickets + ", жителей " + data.citizens;
      counter.dataset.tickets = data.error ? "" : data.tickets;
    }).catch(function () { counter.textContent = "Внутри: — (нет связи)"; });
  }

  map.on("click", function (e) {
    if (state.mode === "circle") {
      var radius = parseFloat(document.getElementById("circle-radius").value) || 500;
      state.circles.push({ lat: e.latlng.lat, lon: e.latlng.lng, radius_m: radius });
    } else {
      state.draft.push([e.latlng.lat, e.latlng.lng]);
    }
    changed();
  });
  document.getElementById("shape-done").addEventListener("click", function () {
    if (state.draft.length >= 3) { state.polygons.push(state.draft); }
    state.draft = [];
    changed();
  });
  document.getElementById("shape-clear").addEventListener("click", function () {
    state.polygons = []; state.circles = []; state.draft = [];
    changed();
  });
  Array.prototype.forEach.call(form.querySelectorAll("[data-mode]"), function (b) {
    b.addEventListener("click", function () { state.mode = b.dataset.mode; state.draft = []; changed(); });
  });
  form.addEventListener("change", changed);
  form.addEventListener("submit", function () {
    if (state.draft.length >= 3) { state.polygons.push(state.draft); state.draft = []; }
    field.value = JSON.stringify(area());
  });
  load();
  changed();
})();
