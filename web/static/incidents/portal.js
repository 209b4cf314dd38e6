/* Outage mode on the portal: a banner for every active incident, its area on the public map, and
   the offer to join a known outage when the report's category and place fall inside it. */
(function () {
  "use strict";
  var banner = document.getElementById("incident-banner");
  var offer = document.getElementById("incident-offer");
  // the portal's form (#category, #address) or the operators' new-ticket form (#f-category, #f-address)
  var category = document.getElementById("category") || document.getElementById("f-category");
  var address = document.getElementById("address") || document.getElementById("f-address");
  var lat = document.getElementById("lat"), lon = document.getElementById("lon");

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.json();
    });
  }
  function text(tag, className, value) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    node.textContent = value;
    return node;
  }
  function describe(i) {
    return i.category_name + ": " + (i.text || i.title) + ". Где: " + i.area_text +
      (i.expected_local ? ". Ожидаемое время восстановления — " + i.expected_local : "") + ".";
  }
  function drawAreas(incidents) {
    var pm = window.PortalMap;
    if (!pm || !pm.map || !window.L) { return; }
    incidents.forEach(function (i) {
      var style = { color: "#c0392b", weight: 2, fillOpacity: 0.12, interactive: true };
      var tip = describe(i);
      (i.area.polygons || []).forEach(function (p) { L.polygon(p, style).bindTooltip(tip).addTo(pm.map); });
      (i.area.circles || []).forEach(function (c) { L.circle([c.lat, c.lon], Object.assign({ radius: c.radius_m }, style)).bindTooltip(tip).addTo(pm.map); });
    });
  }
  if (banner) {
    getJson("/api/incidents/active.json").then(function (data) {
      var items = data.incidents || [];
      if (!items.length) { return; }
      banner.textContent = "";
      banner.appendChild(text("strong", "", items.length === 1 ? "Известная авария" : "Известные аварии"));
      var ul = document.createElement("ul");
      items.forEach(function (i) { ul.appendChild(text("li", "incident-item", describe(i))); });
      banner.appendChild(ul);
      banner.appendChild(text("p", "hint", "О них уже знают и работают: сообщать ещё раз не обязательно. " +
        "Если ваш дом в зоне аварии, отправьте обращение — мы позвоним, когда восстановят."));
      banner.hidden = false;
      drawAreas(items);
    }).catch(function () { /* the portal works without the banner */ });
  }
  var timer = null;
  function checkOffer() {
    if (!offer || !category) { return; }
    clearTimeout(timer);
    timer = setTimeout(function () {
      var params = new URLSearchParams({ category: category.value });
      if (lat && lon && lat.value && lon.value) { params.set("lat", lat.value); params.set("lon", lon.value); }
      if (address && address.value.trim()) { params.set("address", address.value.trim()); }
      if (!category.value || (!params.has("lat") && !params.has("address"))) { offer.hidden = true; offer.textContent = ""; return; }
      getJson("/api/incidents/match?" + params.toString()).then(function (data) {
        var found = data.incidents || [];
        offer.textContent = "";
        offer.hidden = found.length === 0;
        if (!found.length) { return; }
        var i = found[0];
        offer.appendChild(text("strong", "", "Это место в зоне известной аварии № " + i.id));
        offer.appendChild(text("p", "", describe(i)));
        var label = document.createElement("label");
        label.className = "inline";
        var box = document.createElement("input");
        box.type = "checkbox"; box.name = "incident"; box.value = String(i.id); box.id = "join-incident"; box.checked = true;
        label.append(box, document.createTextNode(offer.dataset.label ||
          " Присоединить моё обращение к этой аварии: мне позвонят, когда восстановят"));
        offer.appendChild(label);
      }).catch(function () { offer.hidden = true; });
    }, 300);
  }
  [category, address, lat, lon].forEach(function (node) {
    if (node) { node.addEventListener("change", checkOffer); node.addEventListener("input", checkOffer); }
  });
  // the map picker sets lat/lon without events: watch them
  if (lat && window.MutationObserver) {
    var last = "";
    setInterval(function () {
      var now = (lat.value || "") + "," + (lon.value || "");
      if (now !== last) { last = now; checkOffer(); }
    }, 500);
  }
  checkOffer();
})();
