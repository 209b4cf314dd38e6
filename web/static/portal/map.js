/* The public problem map (Leaflet + markercluster) and the point picker of the request form.
 * Points are vector circles, so they draw even when no tile server can be reached. */
(function () {
  "use strict";
  var box = document.getElementById("problem-map");
  if (!box || typeof L === "undefined") { return; }

  var colors = JSON.parse(box.dataset.colors || "{}");
  var city = L.latLngBounds([+box.dataset.south, +box.dataset.west], [+box.dataset.north, +box.dataset.east]);
  var map = L.map(box, { center: [44.585, 33.52], zoom: 12, maxBounds: city.pad(0.5), minZoom: 10 });
  var note = document.getElementById("map-note");
  var truncatedNote = document.getElementById("map-truncated");
  var tiles = L.tileLayer(box.dataset.tileUrl, {
    maxZoom: 19, attribution: "&copy; участники OpenStreetMap",
  });
  tiles.on("tileerror", function () { if (note) { note.hidden = false; } box.dataset.tilesFailed = "1"; });
  tiles.addTo(map);

  // Clusters are neutral dark blue: the default green/yellow/orange would read as statuses.
  var cluster = L.markerClusterGroup({
    showCoverageOnHover: false, maxClusterRadius: 45, chunkedLoading: true,
    iconCreateFunction: function (group) {
      var count = group.getChildCount();
      var size = count < 10 ? 30 : count < 100 ? 36 : 44;
      return L.divIcon({ html: String(count), className: "problem-cluster", iconSize: [size, size] });
    },
  });
  map.addLayer(cluster);
  var filter = document.getElementById("map-category");
  var pending = null;
  var timer = null;
  var loads = 0;

  function popupHtml(p) {
    var div = document.createElement("div");
    div.className = "map-popup";
    var title = document.createElement("strong");
    title.textContent = "Заявка № " + p.number;
    div.appendChild(title);
    [p.category_name || "Без темы", p.status_label, "от " + p.date.split("-").reverse().join(".")].forEach(function (t) {
      var line = document.createElement("div");
      line.textContent = t;
      div.appendChild(line);
    });
    return div;
  }

  function draw(collection) {
    cluster.clearLayers();
    var layers = collection.features.map(function (f) {
      var c = f.geometry.coordinates, p = f.properties;
      return L.circleMarker([c[1], c[0]], {
        radius: 8, color: "#fff", weight: 2, fillColor: colors[p.status] || "#5f6368", fillOpacity: 0.95,
        className: "problem-point status-" + p.status, bubblingMouseEvents: false,
      }).bindPopup(popupHtml(p));
    });
    cluster.addLayers(layers);
    if (truncatedNote) { truncatedNote.hidden = !collection.truncated; }
    loads += 1;
    box.dataset.pointsLoaded = String(layers.length);
    box.dataset.loads = String(loads);
  }

  function load() {
    if (pending) { pending.abort(); }
    pending = new AbortController();
    var params = new URLSearchParams({ bbox: map.getBounds().pad(0.2).toBBoxString(), limit: "3000" });
    if (filter && filter.value) { params.set("category", filter.value); }
    fetch(box.dataset.pointsUrl + "?" + params.toString(), { headers: { Accept: "application/json" }, signal: pending.signal })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(draw)
      .catch(function (err) { if (err.name !== "AbortError") { box.dataset.pointsError = String(err); } });
  }

  function later() { clearTimeout(timer); timer = setTimeout(load, 250); }
  map.on("moveend", later);
  if (filter) { filter.addEventListener("change", load); }

  // ------------------------------------------------------------ point picker
  var pick = null;
  function announce(latlng, source) {
    document.dispatchEvent(new CustomEvent("portal:pick", {
      detail: latlng ? { lat: +latlng.lat.toFixed(6), lon: +latlng.lng.toFixed(6), source: source } : null,
    }));
  }
  function setPick(lat, lon, source) {
    var latlng = L.latLng(lat, lon);
    if (!pick) {
      pick = L.marker(latlng, { draggable: true, title: "Место проблемы", keyboard: true, zIndexOffset: 1000 }).addTo(map);
      pick.on("dragend", function () { announce(pick.getLatLng(), "map"); });
    } else {
      pick.setLatLng(latlng);
    }
    announce(latlng, source);
  }
  function clearPick() {
    if (pick) { map.removeLayer(pick); pick = null; }
    announce(null, null);
  }
  if (box.dataset.pick) {
    map.on("click", function (e) { setPick(e.latlng.lat, e.latlng.lng, "map"); });
  }
  window.PortalMap = {
    map: map, reload: load, setPick: setPick, clearPick: clearPick,
    hasPick: function () { return pick !== null; },
    focus: function (lat, lon, zoom) { map.setView([lat, lon], zoom || 16); },
  };
  var lat = document.getElementById("lat"), lon = document.getElementById("lon");
  if (lat && lon && lat.value && lon.value && isFinite(+lat.value) && isFinite(+lon.value)) {
    pick = L.marker([+lat.value, +lon.value], { draggable: true, title: "Место проблемы", zIndexOffset: 1000 }).addTo(map);
    pick.on("dragend", function () { announce(pick.getLatLng(), "map"); });
    map.setView([+lat.value, +lon.value], 16);
  }
  load();
})();
