/* fieldwalk places: the place's map, and the place editor (Leaflet.draw). Needs Leaflet and
 * map.js. The drawn polygon goes into the form's `geometry` field as GeoJSON; the server checks
 * it. A place is one polygon: drawing a new one replaces the old. */
(function () {
  'use strict';
  if (!window.L || !window.fieldwalkMaps) return;
  var maps = window.fieldwalkMaps;
  var OTHER_STYLE = { color: '#4a4a4a', weight: 1, dashArray: '4 4', fillOpacity: 0.03, interactive: false };
  var DRAW_STYLE = { color: '#0b4f6c', weight: 3, fillOpacity: 0.2 };

  // The place page: its polygon.
  var showEl = document.getElementById('place-map');
  if (showEl) {
    var placeMap = maps.baseMap(showEl);
    maps.drawPlace(placeMap, maps.readJSON(showEl, 'place'));
    // Proposed camera sites (the list under "What the place has" says the same in words).
    (maps.readJSON(showEl, 'cameras') || []).forEach(function (point) {
      L.marker(point, { icon: maps.pinIcon('camera', 24), keyboard: false }).addTo(placeMap);
    });
  }

  var editEl = document.getElementById('place-form-map');
  if (!editEl || !L.Control.Draw) return;

  // Merge the translated words into L.drawLocal, keeping any Leaflet.draw has that we do not.
  function localise(target, words) {
    Object.keys(words || {}).forEach(function (key) {
      if (words[key] && typeof words[key] === 'object' && target[key]) localise(target[key], words[key]);
      else target[key] = words[key];
    });
  }

  function load(group, value) {
    var geometry;
    try { geometry = JSON.parse(value || 'null'); } catch (e) { return; }
    if (!geometry) return;
    if (geometry.type === 'Feature') geometry = geometry.geometry || {};
    var polygons = geometry.type === 'Polygon' ? [geometry.coordinates]
      : geometry.type === 'MultiPolygon' ? geometry.coordinates : [];
    polygons.forEach(function (rings) {
      try {
        group.addLayer(L.polygon(rings.map(function (ring) { return L.GeoJSON.coordsToLatLngs(ring); }), DRAW_STYLE));
      } catch (e) { /* the server says what is wrong with it */ }
    });
  }

  function shapeOf(group) {
    var polygons = [];
    group.eachLayer(function (layer) {
      var geometry = layer.toGeoJSON(7).geometry;
      if (geometry.type === 'Polygon') polygons.push(geometry.coordinates);
      else if (geometry.type === 'MultiPolygon') polygons = polygons.concat(geometry.coordinates);
    });
    if (!polygons.length) return '';
    return JSON.stringify(polygons.length === 1
      ? { type: 'Polygon', coordinates: polygons[0] }
      : { type: 'MultiPolygon', coordinates: polygons });
  }

  var input = editEl.closest('form').querySelector('[name=geometry]');
  localise(L.drawLocal, maps.readJSON(editEl, 'text'));
  var map = maps.baseMap(editEl);
  var others = L.geoJSON(maps.readJSON(editEl, 'places') || [], OTHER_STYLE).addTo(map);
  var drawn = new L.FeatureGroup().addTo(map);
  var loading = true;
  load(drawn, input.value);
  loading = false;
  map.addControl(new L.Control.Draw({
    position: 'topleft',
    draw: {
      polygon: { allowIntersection: false, showArea: false, shapeOptions: DRAW_STYLE },
      polyline: false, rectangle: false, circle: false, marker: false, circlemarker: false
    },
    edit: { featureGroup: drawn, poly: { allowIntersection: false } }
  }));
  var save = function () { if (!loading) input.value = shapeOf(drawn); };
  map.on(L.Draw.Event.CREATED, function (event) {
    drawn.clearLayers();
    drawn.addLayer(event.layer);
  });
  drawn.on('layeradd layerremove', save);
  [L.Draw.Event.EDITED, L.Draw.Event.EDITVERTEX, L.Draw.Event.EDITMOVE, L.Draw.Event.EDITSTOP,
    L.Draw.Event.DELETESTOP].forEach(function (name) { map.on(name, save); });
  // A pasted polygon shows on the map as soon as it can be read.
  input.addEventListener('change', function () {
    loading = true;
    drawn.clearLayers();
    load(drawn, input.value);
    loading = false;
    if (drawn.getLayers().length) map.fitBounds(drawn.getBounds(), { padding: [12, 12] });
  });
  var target = drawn.getLayers().length ? drawn : others;
  if (target.getLayers().length) map.fitBounds(target.getBounds(), { padding: [12, 12] });
})();
