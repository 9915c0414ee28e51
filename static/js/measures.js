/* fieldwalk measures: the camera site picker (tap the map, the position goes into the form's
 * latitude and longitude fields; typing them moves the pin) and the measures map (a layer per
 * kind of fact, switched by the checkboxes under it, and the camera proposals). Needs Leaflet and
 * map.js; without them the fields are typed by hand and the lists say the same. */
(function () {
  'use strict';
  if (!window.L || !window.fieldwalkMaps) return;
  var maps = window.fieldwalkMaps;
  var COLOURS = { drug_scene: '#a33b00', lov3: '#0b4f6c', police_cameras: '#5c2d91', city_cameras: '#1a6b34', place_partnership: '#6b4e00', guard_patrols: '#4a4a4a' };

  var pickEl = document.getElementById('camera-map');
  if (pickEl) {
    var map = maps.baseMap(pickEl);
    maps.drawPlace(map, maps.readJSON(pickEl, 'place'));
    var form = pickEl.closest('form');
    var lat = form.querySelector('[name=lat]');
    var lon = form.querySelector('[name=lon]');
    var pin = null;
    var put = function (latlng) {
      if (!pin) pin = L.marker(latlng, { icon: maps.pinIcon('camera', 24), keyboard: false }).addTo(map);
      else pin.setLatLng(latlng);
    };
    map.on('click', function (event) {
      put(event.latlng);
      lat.value = event.latlng.lat.toFixed(6);
      lon.value = event.latlng.lng.toFixed(6);
    });
    var typed = function () {
      var a = parseFloat(String(lat.value).replace(',', '.'));
      var b = parseFloat(String(lon.value).replace(',', '.'));
      if (isFinite(a) && isFinite(b)) put([a, b]);
    };
    lat.addEventListener('change', typed);
    lon.addEventListener('change', typed);
    typed();
  }

  var layersEl = document.getElementById('measures-map');
  if (layersEl) {
    var data = maps.readJSON(layersEl, 'map') || { layers: [], proposals: [] };
    var lmap = maps.baseMap(layersEl);
    var groups = [];
    var bounds = L.latLngBounds([]);
    data.layers.forEach(function (layer) {
      var group = L.geoJSON(layer.features, {
        style: { color: COLOURS[layer.kind] || '#333', weight: 2, fillOpacity: 0.12 },
        onEachFeature: function (feature, shape) { shape.bindPopup(maps.textPopup(feature.properties.name + ': ' + feature.properties.label)); }
      }).addTo(lmap);
      if (layer.features.length) bounds.extend(group.getBounds());
      groups.push(group);
    });
    var pins = L.layerGroup(data.proposals.map(function (p) {
      return L.marker([p.lat, p.lon], { icon: maps.pinIcon('camera', 24), keyboard: false }).bindPopup(maps.textPopup(p.label));
    })).addTo(lmap);
    // The layer switches are plain checkboxes under the map (big enough to tap, and read by
    // screen readers), shown only when this script runs.
    var switches = document.getElementById('measures-layers');
    if (switches) {
      switches.hidden = false;
      switches.addEventListener('change', function (event) {
        var box = event.target;
        var group = box.value === 'proposals' ? pins : groups[+box.value];
        if (!group) return;
        if (box.checked) group.addTo(lmap); else lmap.removeLayer(group);
      });
    }
    if (bounds.isValid()) lmap.fitBounds(bounds, { padding: [12, 12], animate: false });
  }
})();
