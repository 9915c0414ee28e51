/* fieldwalk dashboard: the map beside the filtered list. Needs Leaflet, Leaflet.markercluster
 * and map.js. The list is the truth: after htmx swaps it (a filter, a page, Back), the map
 * loads /dashboard/map.json with the list's own query string (its data-map-url). The map
 * element is hx-preserve'd, so a history restore keeps this map and only its points change. */
(function () {
  'use strict';
  var el = document.getElementById('dashboard-map');
  if (!el || !window.L || !window.fieldwalkMaps) return;
  var maps = window.fieldwalkMaps;
  var config = maps.readJSON(el, 'config') || {};
  var words = config.words || {};
  // Up to this many points every one is drawn as itself (and can be counted in the DOM);
  // above it they are clustered.
  var CLUSTER_ABOVE = 300;

  var map = maps.baseMap(el);
  map.setMaxZoom((maps.readJSON(el, 'tiles') || {}).maxZoom || 19);
  // A district, not the world: fewer zoom levels for the clusters to work out.
  map.setMinZoom(10);
  var layer = null;
  var loadedUrl = null;
  var pending = null;
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

  function markersOf(data, kind, make, markers, bounds) {
    var arrays = data[kind] || {};
    var lat = arrays.lat || [], lon = arrays.lon || [], id = arrays.id || [], code = arrays.code || [];
    for (var i = 0; i < lat.length; i++) {
      var y = lat[i] / data.scale, x = lon[i] / data.scale;
      markers.push(make(data, y, x, id[i], code[i]));
      bounds.extend([y, x]);
    }
  }

  function draw(data) {
    if (layer) map.removeLayer(layer);
    var markers = [], bounds = L.latLngBounds([]);
    markersOf(data, 'observations', observationMarker, markers, bounds);
    markersOf(data, 'tasks', taskMarker, markers, bounds);
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 17 });
    if (markers.length > CLUSTER_ABOVE && L.markerClusterGroup) {
      // On the map before the markers go in: a group not yet on a map checks each new
      // marker against every one before it (quadratic: minutes for the whole district).
      layer = L.markerClusterGroup({ chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 60 });
      layer.addTo(map);
      layer.addLayers(markers);
    } else {
      layer = L.featureGroup(markers).addTo(map);
    }
    layer.on('click', function (event) {
      if (!event.layer.point) return;
      L.popup().setLatLng(event.layer.getLatLng()).setContent(describe(data, event.layer.point)).openOn(map);
    });
    el.dataset.points = String(markers.length);
    el.dataset.clustered = String(markers.length > CLUSTER_ABOVE);
    el.removeAttribute('aria-busy');
  }

  function load(url) {
    if (!url || url === loadedUrl) return;
    loadedUrl = url;
    if (pending) pending.abort();
    var controller = pending = new AbortController();
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
        draw(data);
        el.dataset.loaded = url;
        status('');
      })
      .catch(function (error) {
        if (error.name === 'AbortError') return;
        loadedUrl = null;
        el.removeAttribute('aria-busy');
        status(words.failed || String(error));
      });
  }

  // The status line under the map; looked up each time, as a history restore replaces it.
  function status(text) {
    var line = document.getElementById('dashboard-map-status');
    if (!line) return;
    line.textContent = text;
    line.hidden = !text;
  }

  function follow() {
    var results = document.getElementById('dashboard-results');
    if (results) load(results.dataset.mapUrl);
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
