/* fieldwalk dashboard: the map beside the filtered list. Needs Leaflet and map.js. The list is
 * the truth: after htmx swaps it (a filter, a page, Back), the map loads /dashboard/map.json
 * with the list's own query string (its data-map-url) for everything the filters select and
 * fits it; after each move (debounced) it asks again for just the visible box and zoom. The
 * server answers single points when few are in view and counts per grid cell (clusters) when
 * many; a cluster is a round button with its count that zooms in when tapped. The map
 * element is hx-preserve'd, so a history restore keeps this map and only its points change. */
(function () {
  'use strict';
  var el = document.getElementById('dashboard-map');
  if (!el || !window.L || !window.fieldwalkMaps) return;
  var maps = window.fieldwalkMaps;
  var config = maps.readJSON(el, 'config') || {};
  var words = config.words || {};
  // Ask for the visible box this long after the map stops moving.
  var MOVE_DELAY = 300;

  var map = maps.baseMap(el);
  map.setMaxZoom((maps.readJSON(el, 'tiles') || {}).maxZoom || 19);
  // A district, not the world.
  map.setMinZoom(10);
  var layer = null;
  var filterUrl = null;  // the list's map URL: what the filters select, without a box
  var loadedUrl = null;
  var pending = null;
  var moveTimer = null;
  var icons = {};

  function icon(className) {
    if (!icons[className]) {
      icons[className] = L.divIcon({ className: 'pin-wrap', html: '<span class="pin s18 ' + className + '"></span>', iconSize: [44, 44], iconAnchor: [22, 22] });
    }
    return icons[className];
  }

  function popupContent(lines, href) {
    var box = document.createElement('div');
    lines.forEach(function (text, i) {
      var p = document.createElement('p');
      if (i === 0) {
        var a = document.createElement('a');
        a.href = href;
        a.textContent = text;
        p.appendChild(a);
      } else {
        p.textContent = text;
      }
      box.appendChild(p);
    });
    return box;
  }

  // What a marker's popup says; built on click (one shared popup, not one per marker).
  function describe(data, point) {
    var lines;
    if (point.kind === 'o') {
      var category = data.categories[point.code >> 2];
      lines = [(config.categories || {})[category] || category];
      if (point.code & 1) lines.push(words.urgent);
      if (point.code & 2) lines.push(words.worksWell);
      return popupContent(lines, config.observationUrl + point.id);
    }
    var state = data.states[point.code >> 2];
    lines = [(words.task || '#{id}').replace('{id}', point.id), (config.states || {})[state] || state];
    if (point.code & 1) lines.push(words.urgent);
    if (point.code & 2) lines.push(words.overdue);
    return popupContent(lines, config.taskUrl + point.id);
  }

  function observationMarker(data, lat, lon, id, code) {
    var category = data.categories[code >> 2];
    var label = (config.categories || {})[category] || category;
    var marker = L.marker([lat, lon], { icon: icon(code & 1 ? 'urgent' : (code & 2 ? 'good' : '')), title: label, alt: label, keyboard: false });
    marker.point = { kind: 'o', id: id, code: code };
    return marker;
  }

  function taskMarker(data, lat, lon, id, code) {
    var state = data.states[code >> 2];
    var label = (words.task || '#{id}').replace('{id}', id) + ': ' + ((config.states || {})[state] || state);
    var kind = 'task state-' + state + (code & 3 ? ' urgent' : '');
    var marker = L.marker([lat, lon], { icon: icon(kind), title: label, alt: label, keyboard: false });
    marker.point = { kind: 't', id: id, code: code };
    return marker;
  }

  function markersOf(data, kind, make, markers) {
    var arrays = data[kind] || {};
    var lat = arrays.lat || [], lon = arrays.lon || [], id = arrays.id || [], code = arrays.code || [];
    for (var i = 0; i < lat.length; i++) {
      markers.push(make(data, lat[i] / data.scale, lon[i] / data.scale, id[i], code[i]));
    }
  }

  // A cluster: a round, focusable button showing its count; Enter or a tap zooms in on it.
  function clusterMarker(lat, lon, count, urgent) {
    var size = count < 10 ? 32 : count < 100 ? 38 : count < 1000 ? 44 : 52;
    var label = (count === 1 && words.clusterOne) || (words.cluster || '{count}').replace('{count}', count);
    if (urgent) label += ' (' + (words.clusterUrgent || '{count}').replace('{count}', urgent) + ')';
    var html = '<span class="cluster' + (urgent ? ' has-urgent' : '') + '" aria-hidden="true">' + count + '</span>';
    var marker = L.marker([lat, lon], {
      icon: L.divIcon({ className: 'cluster-wrap', html: html, iconSize: [size, size], iconAnchor: [size / 2, size / 2] }),
      title: label, keyboard: true, riseOnHover: true
    });
    marker.cluster = { count: count, urgent: urgent };
    function zoomIn() { map.setView(marker.getLatLng(), Math.min(map.getZoom() + 2, map.getMaxZoom())); }
    marker.on('click', zoomIn);
    // A focused marker is a button: Enter or Space presses it (Leaflet only opens popups).
    marker.on('keypress', function (event) {
      var key = event.originalEvent.key;
      if (key !== 'Enter' && key !== ' ') return;
      event.originalEvent.preventDefault();
      zoomIn();
    });
    marker.on('add', function () {
      var element = marker.getElement();
      if (element) element.setAttribute('aria-label', label);
    });
    return marker;
  }

  function clustersOf(data, markers) {
    var c = data.clusters || {};
    var lat = c.lat || [], lon = c.lon || [], count = c.count || [], urgent = c.urgent || [];
    for (var i = 0; i < lat.length; i++) {
      markers.push(clusterMarker(lat[i] / data.scale, lon[i] / data.scale, count[i], urgent[i]));
    }
  }

  function draw(data, fit) {
    if (layer) map.removeLayer(layer);
    var markers = [];
    if (data.mode === 'clusters') {
      clustersOf(data, markers);
    } else {
      markersOf(data, 'observations', observationMarker, markers);
      markersOf(data, 'tasks', taskMarker, markers);
    }
    layer = L.featureGroup(markers).addTo(map);
    layer.on('click', function (event) {
      var marker = event.layer;
      if (marker.point) {
        L.popup().setLatLng(marker.getLatLng()).setContent(describe(data, marker.point)).openOn(map);
      }
    });
    el.dataset.mode = data.mode;
    el.dataset.points = data.mode === 'clusters' ? '0' : String(markers.length);
    el.dataset.clusters = data.mode === 'clusters' ? String(markers.length) : '0';
    el.dataset.count = String(data.count);
    el.removeAttribute('aria-busy');
    var extent = data.extent;
    if (fit && extent) {
      map.fitBounds([[extent[1], extent[0]], [extent[3], extent[2]]], { padding: [20, 20], maxZoom: 17 });
    }
  }

  // The list's map URL with the visible box and zoom.
  function viewUrl() {
    var b = map.getBounds();
    var clamp = function (value, limit) { return Math.max(-limit, Math.min(limit, value)).toFixed(5); };
    var box = [clamp(b.getWest(), 180), clamp(b.getSouth(), 90), clamp(b.getEast(), 180), clamp(b.getNorth(), 90)];
    return filterUrl + (filterUrl.indexOf('?') < 0 ? '?' : '&') + 'bbox=' + box.join(',') + '&zoom=' + Math.round(map.getZoom());
  }

  function load(url, fit) {
    if (!url || url === loadedUrl) return;
    loadedUrl = url;
    if (pending) pending.abort();
    var controller = pending = new AbortController();
    var filters = filterUrl;
    el.setAttribute('aria-busy', 'true');
    el.dataset.loading = url;
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' }, signal: controller.signal })
      .then(function (response) {
        if (!response.ok) throw new Error('status ' + response.status);
        return response.json();
      })
      .then(function (data) {
        if (controller !== pending) return;
        pending = null;
        draw(data, fit);
        el.dataset.loaded = url;
        el.dataset.filters = filters;
        status('');
      })
      .catch(function (error) {
        if (error.name === 'AbortError') return;
        loadedUrl = null;
        el.removeAttribute('aria-busy');
        status(words.failed || String(error));
      });
  }

  map.on('moveend', function () {
    clearTimeout(moveTimer);
    if (!filterUrl) return;
    moveTimer = setTimeout(function () { load(viewUrl(), false); }, MOVE_DELAY);
  });

  // The status line under the map; looked up each time, as a history restore replaces it.
  function status(text) {
    var line = document.getElementById('dashboard-map-status');
    if (!line) return;
    line.textContent = text;
    line.hidden = !text;
  }

  // New filters: everything they select, fitted; the move that follows asks for the box.
  function follow() {
    var results = document.getElementById('dashboard-results');
    if (!results || !results.dataset.mapUrl || results.dataset.mapUrl === filterUrl) return;
    clearTimeout(moveTimer);
    filterUrl = results.dataset.mapUrl;
    load(filterUrl, true);
  }

  // Empty filters stay out of the URL that htmx requests and pushes: /dashboard?place=3,
  // not /dashboard?place=3&walk=&category=&...
  document.body.addEventListener('htmx:configRequest', function (event) {
    if (!event.detail.elt || event.detail.elt.id !== 'dashboard-filters') return;
    var form = event.detail.formData;
    Array.from(form.keys()).forEach(function (name) {
      if (form.getAll(name).every(function (value) { return value === ''; })) form.delete(name);
    });
  });
  document.body.addEventListener('htmx:afterSettle', follow);
  document.body.addEventListener('htmx:historyRestore', follow);
  follow();
})();
