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
  var layer = null;
  var loadedUrl = null;
  var pending = null;
  var icons = {};

  function icon(className) {
    if (!icons[className]) {
      icons[className] = L.divIcon({ className: 'pin-wrap', html: '<span class="pin ' + className + '"></span>', iconSize: [18, 18], iconAnchor: [9, 9] });
    }
    return icons[className];
  }

  function popup(lines, href) {
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

  function observationMarker(data, lat, lon, id, code) {
    var category = data.categories[code >> 2];
    var label = (config.categories || {})[category] || category;
    var urgent = code & 1, good = code & 2;
    var marker = L.marker([lat, lon], { icon: icon(urgent ? 'urgent' : (good ? 'good' : '')), title: label, alt: label, keyboard: false });
    marker.bindPopup(function () {
      var lines = [label];
      if (urgent) lines.push(words.urgent);
      if (good) lines.push(words.worksWell);
      return popup(lines, config.observationUrl + id);
    });
    return marker;
  }

  function taskMarker(data, lat, lon, id, code) {
    var state = data.states[code >> 2];
    var label = (words.task || '#{id}').replace('{id}', id);
    var stateLabel = (config.states || {})[state] || state;
    var urgent = code & 1, overdue = code & 2;
    var kind = 'task state-' + state + (urgent || overdue ? ' urgent' : '');
    var marker = L.marker([lat, lon], { icon: icon(kind), title: label + ': ' + stateLabel, alt: label, keyboard: false });
    marker.bindPopup(function () {
      var lines = [label, stateLabel];
      if (urgent) lines.push(words.urgent);
      if (overdue) lines.push(words.overdue);
      return popup(lines, config.taskUrl + id);
    });
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
    if (markers.length > CLUSTER_ABOVE && L.markerClusterGroup) {
      layer = L.markerClusterGroup({ chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 60 });
      layer.addLayers(markers);
    } else {
      layer = L.layerGroup(markers);
    }
    layer.addTo(map);
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 17 });
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
      })
      .catch(function (error) {
        if (error.name === 'AbortError') return;
        loadedUrl = null;
        el.removeAttribute('aria-busy');
        el.dataset.error = words.failed || String(error);
      });
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
