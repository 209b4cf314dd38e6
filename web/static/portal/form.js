/* The request form: street suggestions, photos uploaded as soon as they are chosen (kept on the
 * server, so a form that comes back with an error loses none), the map point and duplicates.
 * Without JavaScript the form still works: photos then travel with the form itself. */
(function () {
  "use strict";
  var form = document.getElementById("request-form");
  if (!form) { return; }
  var $ = function (id) { return document.getElementById(id); };
  var maxPhotos = +form.dataset.maxPhotos, maxBytes = +form.dataset.maxPhotoBytes;
  var token = $("upload_token"), photoInput = $("photos"), list = $("photo-list"), photoError = $("err-photos");
  var address = $("address"), category = $("category"), submitButton = $("submit-button");
  var uploading = 0, suggestions = [], dupTimer = null, suggestTimer = null;
  var ACCEPTED = /\.(jpe?g|png|webp|heic|heif)$/i;

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) { return r.json(); });
  }

  // ------------------------------------------------------------ street suggestions
  address.addEventListener("input", function () {
    clearTimeout(suggestTimer);
    var q = address.value.trim();
    var chosen = suggestions.filter(function (s) { return s.name === address.value; })[0];
    if (chosen && window.PortalMap && !window.PortalMap.hasPick()) { window.PortalMap.focus(chosen.lat, chosen.lon, 16); }
    if (q.length < 2) { return; }
    suggestTimer = setTimeout(function () {
      getJson("/api/streets/suggest?q=" + encodeURIComponent(q)).then(function (items) {
        suggestions = items;
        var datalist = $("street-suggestions");
        datalist.textContent = "";
        items.forEach(function (s) {
          var option = document.createElement("option");
          option.value = s.name;
          option.label = s.district + " район";
          datalist.appendChild(option);
        });
      }).catch(function () {});
    }, 200);
  });
  address.addEventListener("change", checkDuplicates);
  category.addEventListener("change", checkDuplicates);

  // ------------------------------------------------------------ map point
  document.addEventListener("portal:pick", function (e) {
    var d = e.detail;
    $("lat").value = d ? d.lat : "";
    $("lon").value = d ? d.lon : "";
    $("clear-point").hidden = !d;
    $("pick-status").textContent = !d ? "Место на карте не отмечено: нажмите на карту, чтобы отметить."
      : d.source === "photo" ? "Место взято из фото: " + d.lat + ", " + d.lon + ". Проверьте метку на карте и при необходимости передвиньте её."
      : "Место отмечено на карте: " + d.lat + ", " + d.lon;
    checkDuplicates();
  });
  $("clear-point").addEventListener("click", function () { if (window.PortalMap) { window.PortalMap.clearPick(); } });

  // ------------------------------------------------------------ photos
  function showPhotoError(text) {
    photoError.textContent = text || "";
    photoError.hidden = !text;
    if (text) { photoInput.setAttribute("aria-invalid", "true"); } else { photoInput.removeAttribute("aria-invalid"); }
  }
  function photoCount() { return list.querySelectorAll("li").length; }
  function addPhoto(photo) {
    var li = document.createElement("li");
    li.dataset.id = photo.id;
    var img = document.createElement("img");
    img.src = photo.thumb_url;
    img.alt = "Фото " + photo.name;
    var kept = document.createElement("input");
    kept.type = "hidden"; kept.name = "kept_photo"; kept.value = photo.id;
    var name = document.createElement("div");
    name.textContent = photo.name;
    var remove = document.createElement("button");
    remove.type = "button"; remove.className = "secondary small remove"; remove.textContent = "Убрать";
    remove.addEventListener("click", function () {
      var body = new FormData();
      body.append("upload_token", token.value);
      body.append("id", photo.id);
      fetch("/portal/photos/remove", { method: "POST", body: body, headers: { Accept: "application/json" } });
      li.remove();
    });
    li.append(img, kept, name, remove);
    list.appendChild(li);
    if (photo.gps_in_city && window.PortalMap && !window.PortalMap.hasPick()) {
      window.PortalMap.setPick(photo.gps[0], photo.gps[1], "photo");
      window.PortalMap.focus(photo.gps[0], photo.gps[1], 17);
    }
  }
  function busy(delta) {
    uploading += delta;
    submitButton.disabled = uploading > 0;
    submitButton.textContent = uploading > 0 ? "Загружаются фото…" : "Отправить обращение";
  }
  function upload(file) {
    var body = new FormData();
    body.append("upload_token", token.value);
    body.append("photo", file, file.name);
    busy(1);
    return fetch("/portal/photos", { method: "POST", body: body, headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
      .then(function (res) {
        if (res.data.token) { token.value = res.data.token; }
        if (!res.ok) { throw new Error(res.data.message || "Фото не принято"); }
        addPhoto(res.data.photo);
      })
      .catch(function (err) { showPhotoError(err.message === "Failed to fetch" ? "Фото «" + file.name + "» не загружено: нет связи с сервером" : err.message); })
      .finally(function () { busy(-1); });
  }
  photoInput.addEventListener("change", function () {
    var files = Array.prototype.slice.call(photoInput.files);
    var problems = [];
    var queue = Promise.resolve();
    var slots = maxPhotos - photoCount() - uploading;
    showPhotoError("");
    files.forEach(function (file) {
      if (slots <= 0) {
        problems.push("Можно приложить не более " + maxPhotos + " фото: «" + file.name + "» не добавлено"); return;
      }
      if (file.size > maxBytes) {
        problems.push("Файл «" + file.name + "» больше " + Math.round(maxBytes / 1048576) + " МБ: уменьшите фото и приложите снова"); return;
      }
      if (!ACCEPTED.test(file.name) && !/^image\//.test(file.type)) {
        problems.push("Файл «" + file.name + "» не является фотографией: принимаются JPEG, PNG или WebP"); return;
      }
      slots -= 1;
      queue = queue.then(function () { return upload(file); });
    });
    photoInput.value = "";   // the files now live on the server; do not send them twice
    queue.then(function () { if (problems.length) { showPhotoError(problems.join(" ")); } });
    if (problems.length) { showPhotoError(problems.join(" ")); }
  });

  // ------------------------------------------------------------ duplicates
  function checkDuplicates() {
    clearTimeout(dupTimer);
    dupTimer = setTimeout(function () {
      var box = $("duplicates");
      var params = new URLSearchParams({ category: category.value });
      if ($("lat").value && $("lon").value) { params.set("lat", $("lat").value); params.set("lon", $("lon").value); }
      if (address.value.trim()) { params.set("address", address.value.trim()); }
      if (!category.value || (!params.has("lat") && !params.has("address"))) { box.hidden = true; return; }
      getJson("/api/duplicates?" + params.toString()).then(function (data) {
        var found = data.duplicates || [];
        box.textContent = "";
        box.hidden = found.length === 0;
        if (!found.length) { return; }
        var head = document.createElement("strong");
        head.textContent = "Похожие открытые обращения рядом:";
        var ul = document.createElement("ul");
        found.forEach(function (d) {
          var li = document.createElement("li");
          var where = d.distance_m !== null ? d.distance_m + " м от места" : "тот же адрес";
          li.textContent = "№ " + d.number + " — " + (d.category_name || "") + ", " + d.status_label + ", " + where +
            ", от " + d.created_at.slice(0, 10).split("-").reverse().join(".");
          ul.appendChild(li);
        });
        var tail = document.createElement("p");
        tail.className = "hint";
        tail.textContent = "Если это та же проблема, новое обращение можно не отправлять — о ней уже знают. " +
          "Если отправите, оператор объединит обращения и перезвонит и вам.";
        box.append(head, ul, tail);
      }).catch(function () { box.hidden = true; });
    }, 300);
  }

  form.addEventListener("submit", function (e) {
    if (uploading > 0) { e.preventDefault(); return; }
    submitButton.disabled = true;
    submitButton.textContent = "Отправляется…";
  });
  if (category.value && ($("lat").value || address.value)) { checkDuplicates(); }
})();
