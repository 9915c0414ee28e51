/* fieldwalk capture screen: position, photos, and saving into the outbox (outbox.js), which
 * sends the observation and then each photo to the JSON API, now or when the signal is back.
 * Without this script the form still posts as a plain form. */
(function () {
  'use strict';
  var form = document.getElementById('capture-form');
  // Without the outbox (no IndexedDB) the form posts as a plain form, which works too.
  if (!form || !window.fetch || !window.indexedDB || !window.FieldwalkOutbox) return;
  var config = JSON.parse(document.getElementById('capture-config').textContent);
  var msg = config.msg;
  var status = document.getElementById('capture-status');
  var locationStatus = document.getElementById('location-status');
  var locationWarning = document.getElementById('location-warning');
  var photoInput = document.getElementById('photos');
  var previews = document.getElementById('photo-previews');
  var saveButton = document.getElementById('save');
  var usePhotoButton = document.getElementById('use-photo-position');
  var field = function (name) { return form.querySelector('[name="' + name + '"]'); };
  // A number as the page's language writes it: "1,5" in Swedish.
  var decimalText = function (value, digits) {
    return value.toLocaleString(document.documentElement.lang || undefined,
      { minimumFractionDigits: digits, maximumFractionDigits: digits });
  };
  var selected = [];       // {file, id, gps}
  var source = null;       // 'device' | 'photo' | 'map' once we have a position
  var photoGps = null;
  var marker = null, map = null, placeFeature = null;

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }
  function fill(text, values) { return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; }); }
  // Add or remove one id in an element's aria-describedby list.
  function describe(el, id, on) {
    var ids = (el.getAttribute('aria-describedby') || '').split(/\s+/).filter(function (x) { return x && x !== id; });
    if (on) ids.push(id);
    if (ids.length) el.setAttribute('aria-describedby', ids.join(' ')); else el.removeAttribute('aria-describedby');
  }
  function say(text, isError) {
    status.hidden = !text; status.textContent = text || '';
    status.className = isError ? 'alert' : 'notice';
  }

  // --- distance from the walk's place (metres; 0 inside) ---------------------------------
  function inRing(lat, lon, ring) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > lat) !== (yj > lat) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  function distanceToPlace(lat, lon) {
    if (!placeFeature) return 0;
    var g = placeFeature.geometry;
    var polys = g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
    var kx = Math.cos(lat * Math.PI / 180) * 111195, ky = 111195, best = Infinity, inside = false;
    polys.forEach(function (poly) {
      var count = 0;
      poly.forEach(function (ring) {
        if (inRing(lat, lon, ring)) count++;
        for (var i = 0; i + 1 < ring.length; i++) {
          var ax = (ring[i][0] - lon) * kx, ay = (ring[i][1] - lat) * ky;
          var bx = (ring[i + 1][0] - lon) * kx, by = (ring[i + 1][1] - lat) * ky;
          var dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
          var t = l2 ? Math.max(0, Math.min(1, -(ax * dx + ay * dy) / l2)) : 0;
          best = Math.min(best, Math.hypot(ax + t * dx, ay + t * dy));
        }
      });
      if (count % 2 === 1) inside = true;
    });
    return inside ? 0 : best;
  }

  // --- position ----------------------------------------------------------------------
  function setPosition(lat, lon, accuracy, from) {
    field('lat').value = lat.toFixed(6);
    field('lon').value = lon.toFixed(6);
    field('accuracy_m').value = accuracy != null ? Math.round(accuracy) : '';
    field('location_source').value = from;
    source = from;
    if (from === 'device') locationStatus.textContent = fill(msg.accuracy, { m: Math.round(accuracy) });
    else locationStatus.textContent = from === 'map' ? msg.fromMap : msg.fromPhoto;
    var far = distanceToPlace(lat, lon);
    locationWarning.hidden = far <= config.farMetres;
    locationWarning.textContent = far > config.farMetres ? fill(msg.far, { km: decimalText(far / 1000, 1) }) : '';
    if (map) {
      if (!marker) {
        // Not a tab stop: a keyboard cannot drag it; Enter on the map moves it instead.
        marker = L.marker([lat, lon], { icon: window.fieldwalkMaps.pinIcon('position', 28), draggable: true, keyboard: false, title: msg.pin }).addTo(map);
        marker.on('dragend', function () { var p = marker.getLatLng(); setPosition(p.lat, p.lng, null, 'map'); });
      } else {
        marker.setLatLng([lat, lon]);
      }
      if (from !== 'map') map.setView([lat, lon], Math.max(map.getZoom(), 17));
    }
  }

  var mapEl = document.getElementById('capture-map');
  if (mapEl && window.fieldwalkMaps) {
    var data = window.fieldwalkMaps.readJSON(mapEl, 'map') || {};
    placeFeature = data.place || null;
    map = window.fieldwalkMaps.baseMap(mapEl);
    window.fieldwalkMaps.drawPlace(map, placeFeature);
    map.on('click', function (event) { setPosition(event.latlng.lat, event.latlng.lng, null, 'map'); });
    // Leaflet pans with the arrow keys; Enter or Space puts the pin in the middle of the map.
    mapEl.addEventListener('keydown', function (event) {
      if (event.target !== mapEl || (event.key !== 'Enter' && event.key !== ' ')) return;
      event.preventDefault();
      var centre = map.getCenter();
      setPosition(centre.lat, centre.lng, null, 'map');
    });
    document.getElementById('capture-map-hint').hidden = false;
  }

  if (navigator.geolocation) {
    navigator.geolocation.watchPosition(function (pos) {
      if (source === 'map' || source === 'photo') return;  // the person chose; keep it
      setPosition(pos.coords.latitude, pos.coords.longitude, pos.coords.accuracy, 'device');
    }, function () {
      if (!source) locationStatus.textContent = msg.denied;
    }, { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
  } else {
    locationStatus.textContent = msg.denied;
  }

  usePhotoButton.addEventListener('click', function () {
    if (photoGps) setPosition(photoGps[0], photoGps[1], null, 'photo');
  });

  // --- photos ------------------------------------------------------------------------
  function sniff(bytes) {
    if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
    if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
    var ascii = String.fromCharCode.apply(null, bytes.slice(0, 12));
    if (ascii.slice(0, 4) === 'RIFF' && ascii.slice(8, 12) === 'WEBP') return 'webp';
    if (ascii.slice(4, 8) === 'ftyp' && /^(heic|heix|hevc|heim|heis|mif1|msf1)$/.test(ascii.slice(8, 12))) return 'heif';
    return null;
  }

  // Read the GPS position from a JPEG's EXIF block, or null. Never throws.
  function exifGps(buffer) {
    try {
      var v = new DataView(buffer), off = 2;
      if (v.getUint16(0) !== 0xffd8) return null;
      while (off + 4 < v.byteLength) {
        var marker = v.getUint16(off), size = v.getUint16(off + 2);
        if (marker === 0xffe1 && v.getUint32(off + 4) === 0x45786966) return readTiff(v, off + 10);
        if ((marker & 0xff00) !== 0xff00 || marker === 0xffda) return null;
        off += 2 + size;
      }
    } catch (e) { /* malformed EXIF: no position */ }
    return null;
  }
  function readTiff(v, start) {
    var little = v.getUint16(start) === 0x4949;
    var u16 = function (o) { return v.getUint16(start + o, little); };
    var u32 = function (o) { return v.getUint32(start + o, little); };
    var entries = function (ifd) {
      var n = u16(ifd), out = {};
      for (var i = 0; i < n; i++) { var e = ifd + 2 + i * 12; out[u16(e)] = e; }
      return out;
    };
    var ifd0 = entries(u32(4));
    if (!ifd0[0x8825]) return null;
    var gps = entries(u32(ifd0[0x8825] + 8));
    var ref = function (tag) { return gps[tag] ? String.fromCharCode(v.getUint8(start + gps[tag] + 8)) : ''; };
    var dms = function (tag) {
      if (!gps[tag]) return null;
      var at = u32(gps[tag] + 8), total = 0;
      for (var i = 0; i < 3; i++) {
        var num = u32(at + i * 8), den = u32(at + i * 8 + 4);
        if (!den) return null;
        total += num / den / Math.pow(60, i);
      }
      return total;
    };
    var lat = dms(2), lon = dms(4);
    if (lat == null || lon == null || lat > 90 || lon > 180) return null;
    if (ref(1) === 'S') lat = -lat;
    if (ref(3) === 'W') lon = -lon;
    return [lat, lon];
  }

  function showPhotoError(text) {
    var wrapper = photoInput.closest('.field');
    var old = wrapper.querySelector('.error');
    if (old) old.remove();
    wrapper.classList.toggle('has-error', !!text);
    describe(photoInput, 'photos-error', !!text);
    if (text) {
      var p = document.createElement('p');
      p.className = 'error'; p.id = 'photos-error'; p.textContent = text;
      previews.before(p);
    }
  }

  function renderPreviews() {
    previews.textContent = '';
    selected.forEach(function (item, index) {
      var li = document.createElement('li');
      var img = document.createElement('img');
      img.alt = '';
      img.src = item.url;
      var remove = document.createElement('button');
      remove.type = 'button'; remove.textContent = '×';
      remove.setAttribute('aria-label', msg.remove + ' ' + (index + 1));
      remove.addEventListener('click', function () {
        URL.revokeObjectURL(item.url); selected.splice(index, 1); renderPreviews();
      });
      li.append(img, remove);
      previews.append(li);
    });
  }

  photoInput.addEventListener('change', function () {
    var files = Array.prototype.slice.call(photoInput.files);
    photoInput.value = '';
    showPhotoError('');
    Promise.all(files.map(function (file) {
      return file.slice(0, 256 * 1024).arrayBuffer().then(function (head) {
        var kind = sniff(new Uint8Array(head.slice(0, 16)));
        if (!kind) throw new Error(file.name + ': ' + msg.notImage);
        if (file.size > config.maxBytes) throw new Error(file.name + ': ' + msg.tooLarge);
        return { file: file, id: uuid(), kind: kind, gps: kind === 'jpeg' ? exifGps(head) : null, url: URL.createObjectURL(file) };
      });
    })).then(function (items) {
      selected = selected.concat(items);
      renderPreviews();
      var withGps = items.filter(function (i) { return i.gps; })[0];
      if (withGps) {
        photoGps = withGps.gps;
        var far = distanceToPlace(photoGps[0], photoGps[1]);
        usePhotoButton.hidden = far > config.farMetres;
        if (far > config.farMetres) {
          locationWarning.hidden = false;
          locationWarning.textContent = fill(msg.photoFar, { km: decimalText(far / 1000, 0) });
        }
      }
    }).catch(function (error) { showPhotoError(error.message); });
  });

  // --- saving ------------------------------------------------------------------------
  // Each error goes next to its field and is tied to it (aria-describedby), as the plain form
  // renders it; a group of radios is described as a whole, a single control is marked invalid.
  function showFieldErrors(errors) {
    form.querySelectorAll('.field > .error').forEach(function (el) {
      if (el.id === 'photos-error') return;
      var box = el.parentNode, control = box.matches('fieldset') ? box : box.querySelector('input, textarea, select');
      box.classList.remove('has-error');
      if (control) { describe(control, el.id, false); control.removeAttribute('aria-invalid'); }
      el.remove();
    });
    Object.keys(errors || {}).forEach(function (name) {
      var control = field(name);
      var box = name === 'category' ? document.getElementById('category') : control && control.closest('.field');
      if (!box) { say(errors[name], true); return; }
      var p = document.createElement('p');
      p.className = 'error'; p.id = name + '-error'; p.textContent = errors[name];
      var anchor = box.querySelector(':scope > .hint') || box.querySelector(':scope > legend');
      if (anchor) anchor.after(p); else control.before(p);
      box.classList.add('has-error');
      if (box.matches('fieldset')) describe(box, p.id, true);
      else { describe(control, p.id, true); control.setAttribute('aria-invalid', 'true'); }
    });
    var first = form.querySelector('.has-error input, .has-error textarea');
    if (first) first.focus();
  }

  /* Photos are made smaller on the phone before they are queued: long edge 2048 px, JPEG
   * quality 0.85, upright (createImageBitmap applies the EXIF orientation) and without EXIF.
   * The position was read from the original's EXIF first. HEIC and anything the browser
   * cannot decode is sent as it is; the server accepts full-size originals too. */
  var MAX_EDGE = 2048, QUALITY = 0.85;
  function prepare(item) {
    var original = function () {
      return item.file.arrayBuffer().then(function (data) {
        return { id: item.id, name: item.file.name, type: item.file.type || 'application/octet-stream', data: data };
      });
    };
    if (!window.createImageBitmap || item.kind === 'heif') return original();
    return createImageBitmap(item.file, { imageOrientation: 'from-image' }).then(function (bitmap) {
      var scale = Math.min(1, MAX_EDGE / Math.max(bitmap.width, bitmap.height));
      var w = Math.max(1, Math.round(bitmap.width * scale)), h = Math.max(1, Math.round(bitmap.height * scale));
      var canvas = document.createElement('canvas');
      canvas.width = w; canvas.height = h;
      canvas.getContext('2d').drawImage(bitmap, 0, 0, w, h);
      if (bitmap.close) bitmap.close();
      return new Promise(function (resolve) { canvas.toBlob(resolve, 'image/jpeg', QUALITY); });
    }).then(function (blob) {
      if (!blob || (blob.size >= item.file.size && item.kind === 'jpeg')) return original();
      return blob.arrayBuffer().then(function (data) {
        return { id: item.id, name: item.file.name, type: 'image/jpeg', data: data };
      });
    }, original);
  }

  function readyForNext() {
    selected.forEach(function (s) { URL.revokeObjectURL(s.url); });
    selected = []; renderPreviews();
    form.reset();
    field('id').value = uuid();
    if (source === 'map' || source === 'photo') { source = null; locationStatus.textContent = msg.noPosition; }
    showFieldErrors({}); showPhotoError('');
    var list = document.getElementById('observation-list');
    if (list && window.htmx) window.htmx.trigger(list, 'refresh');
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var category = form.querySelector('[name=category]:checked');
    if (!category) { showFieldErrors({ category: msg.chooseCategory }); return; }
    var follow = form.querySelector('[name=follow]');
    var followEmail = field('follow_email');
    if (follow && follow.checked && (!followEmail.value.trim() || !followEmail.checkValidity())) {
      showFieldErrors({ follow_email: msg.followEmail }); followEmail.focus(); return;
    }
    var checked = function (name) { var el = form.querySelector('[name=' + name + ']:checked'); return el ? el.value : null; };
    var id = field('id').value;
    var body = {
      category: category.value,
      works_well: checked('works_well') === '1',
      description: field('description').value,
      feeling: checked('feeling') ? Number(checked('feeling')) : null,
      urgent: field('urgent').checked,
      walk_id: config.walkId,
      lat: field('lat').value ? Number(field('lat').value) : null,
      lon: field('lon').value ? Number(field('lon').value) : null,
      accuracy_m: field('accuracy_m').value ? Number(field('accuracy_m').value) : null,
      location_source: field('location_source').value || null,
      captured_at: new Date().toISOString(),
      photos: selected.map(function (s) { return s.id; })
    };
    // Optional, not part of the observation: an address to hear back about it.
    if (follow && follow.checked) body.follow_email = followEmail.value.trim();
    var label = category.closest('label').querySelector('strong');
    saveButton.disabled = true;
    say(msg.saving);
    // Queued first, on the phone, durably; sent from the outbox (now, or when there is signal).
    Promise.all(selected.map(prepare)).then(function (photos) {
      return window.FieldwalkOutbox.add(id, body, photos, { label: label ? label.textContent : body.category });
    }).then(function () {
      readyForNext();
      say(msg.queued);
      window.scrollTo(0, 0);
      return window.FieldwalkSync ? window.FieldwalkSync.now() : null;
    }, function (error) {
      say(msg.storageFailed + ' ' + (error && error.message ? error.message : ''), true);
      throw error;
    }).then(function (result) {
      if (!result) return;
      if (result.login) say(msg.login, true);
      else if (result.sent && !result.retry) {
        return window.FieldwalkOutbox.get(id).then(function (entry) {
          if (!entry) say(msg.saved);
          else if (entry.state !== 'waiting') say(fill(msg.refused, { reason: entry.error }), true);
        });
      } else if (result.retry) say(msg.offline);
      else return window.FieldwalkOutbox.get(id).then(function (entry) {
        if (entry && entry.state !== 'waiting') say(fill(msg.refused, { reason: entry.error }), true);
        else if (!entry) say(msg.saved);
      });
    }).catch(function () { /* already said */ }).then(function () {
      saveButton.disabled = false;
    });
  });
})();
