/* fieldwalk capture screen: photos, position, and saving into the outbox (outbox.js), which
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
  var heading = document.getElementById('capture-heading');
  var locationStatus = document.getElementById('location-status');
  var locationWarning = document.getElementById('location-warning');
  var photoInputs = [document.getElementById('photos'), document.getElementById('gallery')];
  var previews = document.getElementById('photo-previews');
  var saveButton = document.getElementById('save');
  var usePhotoButton = document.getElementById('use-photo-position');
  var changeButton = document.getElementById('change-position');
  var mapEl = document.getElementById('capture-map');
  var field = function (name) { return form.querySelector('[name="' + name + '"]'); };
  var selected = [];       // {file, id, kind, gps, takenAt, url}
  var source = null;       // 'device' | 'photo' | 'map' once we have a position
  var device = null;       // the phone's latest fix: [lat, lon, accuracy]
  var photoGps = null;
  var marker = null, map = null, placeFeature = null;
  placeFeature = (function () { try { return JSON.parse(mapEl.dataset.map || '{}').place || null; } catch (e) { return null; } })();

  function uuid() { return window.FieldwalkOutbox.uuid(); }
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
  function warn(text) {
    locationWarning.hidden = !text;
    locationWarning.textContent = text || '';
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

  // --- position: one line, the map only on request -------------------------------------
  function setPosition(lat, lon, accuracy, from) {
    field('lat').value = lat.toFixed(6);
    field('lon').value = lon.toFixed(6);
    field('accuracy_m').value = accuracy != null ? Math.round(accuracy) : '';
    field('location_source').value = from;
    source = from;
    if (from === 'device') locationStatus.textContent = fill(msg.accuracy, { m: Math.round(accuracy) });
    else locationStatus.textContent = from === 'map' ? msg.fromMap : msg.fromPhoto;
    refreshWarning();
    placeMarker(lat, lon, from);
  }
  function decimal() { return (document.documentElement.lang || 'sv').slice(0, 2) === 'en' ? '.' : ','; }
  function clearPosition() {
    ['lat', 'lon', 'accuracy_m', 'location_source'].forEach(function (name) { field(name).value = ''; });
    source = null;
    if (marker && map) { map.removeLayer(marker); marker = null; }
  }

  function placeMarker(lat, lon, from) {
    if (!map) return;
    if (!marker) {
      // Not a tab stop: a keyboard cannot drag it; Enter on the map moves it instead.
      marker = L.marker([lat, lon], { icon: window.fieldwalkMaps.pinIcon('position', 28), draggable: true, keyboard: false, title: msg.pin }).addTo(map);
      marker.on('dragend', function () { var p = marker.getLatLng(); setPosition(p.lat, p.lng, null, 'map'); });
    } else {
      marker.setLatLng([lat, lon]);
    }
    if (from !== 'map') map.setView([lat, lon], Math.max(map.getZoom(), 17));
  }

  function openMap() {
    changeButton.setAttribute('aria-expanded', 'true');
    changeButton.disabled = true;
    return window.fieldwalkLoadMap(mapEl).then(function (maps) {
      changeButton.hidden = true;
      mapEl.hidden = false;
      document.getElementById('capture-map-hint').hidden = false;
      if (!map) {
        map = maps.baseMap(mapEl);
        maps.drawPlace(map, placeFeature);
        map.on('click', function (event) { setPosition(event.latlng.lat, event.latlng.lng, null, 'map'); });
        // Leaflet pans with the arrow keys; Enter or Space puts the pin in the middle of the map.
        mapEl.addEventListener('keydown', function (event) {
          if (event.target !== mapEl || (event.key !== 'Enter' && event.key !== ' ')) return;
          event.preventDefault();
          var centre = map.getCenter();
          setPosition(centre.lat, centre.lng, null, 'map');
        });
      }
      if (field('lat').value) placeMarker(Number(field('lat').value), Number(field('lon').value), source);
      mapEl.focus();
    }, function () {
      changeButton.disabled = false;
      changeButton.setAttribute('aria-expanded', 'false');
      warn(msg.mapFailed);
    });
  }
  changeButton.hidden = false;
  changeButton.addEventListener('click', openMap);

  // The phone is asked for its position on the person's first action, not as the page opens:
  // a permission prompt nobody asked for is the first thing many people refuse.
  var asked = false;
  function askPosition() {
    if (asked) return;
    asked = true;
    ['pointerdown', 'keydown', 'change'].forEach(function (type) { document.removeEventListener(type, askPosition, true); });
    if (!navigator.geolocation) { locationStatus.textContent = msg.denied; return; }
    if (!source) locationStatus.textContent = msg.locating;
    navigator.geolocation.watchPosition(function (pos) {
      device = [pos.coords.latitude, pos.coords.longitude, pos.coords.accuracy];
      if (source === 'map' || source === 'photo') return;  // the person chose; keep it
      setPosition(device[0], device[1], device[2], 'device');
    }, function () {
      if (!source) locationStatus.textContent = msg.denied;
    }, { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
  }
  ['pointerdown', 'keydown', 'change'].forEach(function (type) { document.addEventListener(type, askPosition, true); });

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

  /* The position and time the camera wrote into a JPEG's EXIF (APP1) block, read before the
   * photo is re-encoded (which drops EXIF): {gps: [lat, lon] or null, takenAt: ISO local time
   * or null}. HEIC is not read here (the server reads it from the original bytes). Never throws. */
  function readExif(buffer) {
    var none = { gps: null, takenAt: null };
    try {
      var v = new DataView(buffer), off = 2;
      if (v.getUint16(0) !== 0xffd8) return none;
      while (off + 4 < v.byteLength) {
        var marker = v.getUint16(off), size = v.getUint16(off + 2);
        if (marker === 0xffe1 && v.getUint32(off + 4) === 0x45786966) return readTiff(v, off + 10);
        if ((marker & 0xff00) !== 0xff00 || marker === 0xffda) return none;
        off += 2 + size;
      }
    } catch (e) { /* malformed EXIF: nothing */ }
    return none;
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
    var ascii = function (dir, tag) {
      if (!dir[tag]) return '';
      var count = u32(dir[tag] + 4), at = count > 4 ? u32(dir[tag] + 8) : dir[tag] + 8, s = '';
      for (var i = 0; i < count && i < 64; i++) {
        var c = v.getUint8(start + at + i);
        if (!c) break;
        s += String.fromCharCode(c);
      }
      return s;
    };
    var ifd0 = entries(u32(4));
    var out = { gps: null, takenAt: null };
    if (ifd0[0x8769]) out.takenAt = exifTime(ascii(entries(u32(ifd0[0x8769] + 8)), 0x9003));
    if (!out.takenAt) out.takenAt = exifTime(ascii(ifd0, 0x0132));
    if (!ifd0[0x8825]) return out;
    var gps = entries(u32(ifd0[0x8825] + 8));
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
    if (ascii(gps, 0x09).trim().toUpperCase() === 'V') return out;  // void fix
    var lat = dms(2), lon = dms(4);
    if (lat == null || lon == null || lat > 90 || lon > 180 || (lat === 0 && lon === 0)) return out;
    if (ascii(gps, 1).trim().toUpperCase() === 'S') lat = -lat;
    if (ascii(gps, 3).trim().toUpperCase() === 'W') lon = -lon;
    out.gps = [lat, lon];
    return out;
  }
  // '2008:10:22 16:28:39' -> '2008-10-22T16:28:39' (the camera's local time); placeholders -> null.
  function exifTime(text) {
    var m = /^(\d{4}):(\d\d):(\d\d) (\d\d):(\d\d):(\d\d)/.exec(text || '');
    if (!m || m[1] === '0000' || m[2] === '00' || m[3] === '00') return null;
    return m[1] + '-' + m[2] + '-' + m[3] + 'T' + m[4] + ':' + m[5] + ':' + m[6];
  }

  function showPhotoError(text) {
    var wrapper = previews.closest('.field');
    var old = wrapper.querySelector('#photos-error');
    if (old) old.remove();
    wrapper.classList.toggle('has-error', !!text);
    photoInputs.forEach(function (input) { describe(input, 'photos-error', !!text); });
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
        if (!selected.some(function (s) { return s.gps; })) forgetPhotoPosition();
        photoInputs[0].focus();
      });
      li.append(img, remove);
      previews.append(li);
    });
  }
  function forgetPhotoPosition() {
    photoGps = null;
    usePhotoButton.hidden = true;
    if (source === 'photo') {
      clearPosition();
      if (device) setPosition(device[0], device[1], device[2], 'device');
      else locationStatus.textContent = msg.noPosition;
    }
    refreshWarning();
  }
  // The warning for the position as it now is (a removed photo takes its own warning along).
  function refreshWarning() {
    var lat = field('lat').value, far = lat ? distanceToPlace(+lat, +field('lon').value) : 0;
    warn(far > config.farMetres ? fill(msg.far, { km: (far / 1000).toFixed(1).replace('.', decimal()) }) : '');
  }

  function addPhotos(input) {
    var files = Array.prototype.slice.call(input.files);
    input.value = '';
    showPhotoError('');
    Promise.all(files.map(function (file) {
      return file.slice(0, 256 * 1024).arrayBuffer().then(function (head) {
        var kind = sniff(new Uint8Array(head.slice(0, 16)));
        if (!kind) throw new Error(file.name + ': ' + msg.notImage);
        if (file.size > config.maxBytes) throw new Error(file.name + ': ' + msg.tooLarge);
        var exif = kind === 'jpeg' ? readExif(head) : { gps: null, takenAt: null };
        return { file: file, id: uuid(), kind: kind, gps: exif.gps, takenAt: exif.takenAt, url: URL.createObjectURL(file) };
      });
    })).then(function (items) {
      selected = selected.concat(items);
      renderPreviews();
      var withGps = items.filter(function (i) { return i.gps; })[0];
      if (!withGps) return;
      photoGps = withGps.gps;
      var far = distanceToPlace(photoGps[0], photoGps[1]);
      if (far > config.farMetres) {
        usePhotoButton.hidden = true;
        warn(fill(msg.photoFar, { km: (far / 1000).toFixed(0) }));
      } else if (!source) {
        setPosition(photoGps[0], photoGps[1], null, 'photo');  // no fix from the phone: the photo's
      } else {
        usePhotoButton.hidden = source === 'photo';
      }
    }).catch(function (error) { showPhotoError(error.message); });
  }
  photoInputs.forEach(function (input) {
    input.addEventListener('change', function () { addPhotos(input); });
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
    var first = form.querySelector('.has-error input:not([type=file]), .has-error textarea');
    if (first) first.focus();
  }

  /* Photos are made smaller on the phone before they are queued: long edge 2048 px, JPEG
   * quality 0.85, upright (createImageBitmap applies the EXIF orientation) and without EXIF.
   * The position and time were read from the original's EXIF first and travel beside the
   * bytes (the photo's X-Photo-* headers). HEIC and anything the browser cannot decode is sent
   * as it is; the server accepts full-size originals too. */
  var MAX_EDGE = 2048, QUALITY = 0.85;
  function prepare(item) {
    var meta = { id: item.id, name: item.file.name, gps: item.gps, taken_at: item.takenAt };
    var withData = function (type, data) {
      return Object.assign({ type: type, data: data }, meta);
    };
    var original = function () {
      return item.file.arrayBuffer().then(function (data) {
        return withData(item.file.type || 'application/octet-stream', data);
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
      return blob.arrayBuffer().then(function (data) { return withData('image/jpeg', data); });
    }, original);
  }

  // A clean screen for the next observation: no photo, choice, warning or error left over.
  function readyForNext() {
    selected.forEach(function (s) { URL.revokeObjectURL(s.url); });
    selected = []; renderPreviews();
    photoGps = null;
    usePhotoButton.hidden = true;
    var keep = source === 'device' && device;
    form.reset();
    field('id').value = uuid();
    clearPosition();
    if (keep) setPosition(device[0], device[1], device[2], 'device');
    else if (asked) locationStatus.textContent = msg.noPosition;
    warn('');  // said about the last one; a new fix from the phone says it again if it still holds
    form.querySelectorAll('details[open]').forEach(function (d) { d.open = false; });
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
    // The observation's time: now, unless a photo carries its own (the server takes that one).
    var photoTime = selected.some(function (s) { return s.takenAt; });
    var body = {
      category: category.value,
      works_well: field('works_well').checked,
      description: field('description').value,
      feeling: checked('feeling') ? Number(checked('feeling')) : null,
      urgent: field('urgent').checked,
      walk_id: config.walkId,
      lat: field('lat').value ? Number(field('lat').value) : null,
      lon: field('lon').value ? Number(field('lon').value) : null,
      accuracy_m: field('accuracy_m').value ? Number(field('accuracy_m').value) : null,
      location_source: field('location_source').value || null,
      captured_at: photoTime ? null : new Date().toISOString(),
      photos: selected.map(function (s) { return s.id; })
    };
    // Optional, not part of the observation: an address to hear back about it.
    if (follow && follow.checked) body.follow_email = followEmail.value.trim();
    saveButton.disabled = true;
    latest = id;
    say(msg.saving);
    // Queued first, on the phone, durably; sent from the outbox (now, or when there is signal).
    Promise.all(selected.map(prepare)).then(function (photos) {
      return window.FieldwalkOutbox.add(id, body, photos, { label: category.dataset.label || body.category });
    }).then(function () {
      readyForNext();
      say(msg.queued);
      window.scrollTo(0, 0);
      heading.focus();
      return window.FieldwalkSync ? window.FieldwalkSync.now() : null;
    }, function (error) {
      say(msg.storageFailed + ' ' + (error && error.message ? error.message : ''), true);
      throw error;
    }).then(function (result) {
      if (!result) return;
      if (result.login) return say(msg.login, true);
      if (result.retry && !result.sent) return say(msg.offline);
      if (result.busy) return whenSettled(id);  // another tab or the worker is sending it
      return report(id, true);
    }).catch(function () { /* already said */ }).then(function () {
      saveButton.disabled = false;
    });
  });

  // Say what became of the observation just saved: sent, refused, or waiting in the outbox.
  var latest = null;
  function report(id, final) {
    return window.FieldwalkOutbox.get(id).then(function (entry) {
      if (latest !== id) return true;  // a newer observation has the say
      if (!entry) say(msg.saved);
      else if (entry.state !== 'waiting') say(fill(msg.refused, { reason: entry.error }), true);
      else if (final) say(msg.offline);
      else return false;
      return true;
    });
  }
  function whenSettled(id) {
    var done = false;
    window.FieldwalkOutbox.onChange(function () {
      if (!done && latest === id) report(id, false).then(function (settled) { done = settled; });
    });
  }
})();
