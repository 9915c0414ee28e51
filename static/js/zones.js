/* fieldwalk zones: the zones map, and the zone editor (Leaflet.draw). Needs Leaflet and map.js.
 * Everything comes from data-* attributes; the drawn shape goes into the form's hidden
 * `geometry` input as GeoJSON, so the server sees exactly what the person drew. */
(function () {
  'use strict';
  if (!window.L || !window.fieldwalkMaps) return;
  var maps = window.fieldwalkMaps;
  var PLACE_STYLE = { color: '#4a4a4a', weight: 1, dashArray: '4 4', fillOpacity: 0.03, interactive: false };
  var DRAW_STYLE = { color: '#0b4f6c', weight: 3, fillOpacity: 0.2 };

  function zoneStyle(faint) {
    return function (feature) {
      var colour = feature.properties.colour;
      return { color: colour, fillColor: colour, weight: faint ? 1 : 2, fillOpacity: faint ? 0.08 : 0.25 };
    };
  }

  function zonePopup(props, editLabel) {
    var box = document.createElement('div');
    var title = document.createElement('strong');
    title.textContent = props.name;
    var meta = document.createElement('p');
    meta.textContent = props.party + ' · ' + props.kind;
    var link = document.createElement('a');
    link.href = props.edit_url;
    link.textContent = editLabel;
    box.appendChild(title);
    box.appendChild(meta);
    box.appendChild(link);
    return box;
  }

  function fitTo(map, layers) {
    var bounds = L.latLngBounds([]);
    layers.forEach(function (layer) {
      if (layer && layer.getLayers().length) bounds.extend(layer.getBounds());
    });
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [12, 12] });
  }

  // Merge the translated words into L.drawLocal, keeping any Leaflet.draw has that we do not.
  function localise(target, words) {
    Object.keys(words || {}).forEach(function (key) {
      if (words[key] && typeof words[key] === 'object' && target[key]) localise(target[key], words[key]);
      else target[key] = words[key];
    });
  }

  // One editable layer per polygon: Leaflet.draw edits a Polygon's outer ring (holes are kept)
  // but not a MultiPolygon as one layer.
  function loadShape(group, value) {
    var geometry;
    try { geometry = JSON.parse(value || 'null'); } catch (e) { return; }
    if (!geometry) return;
    var polygons = geometry.type === 'Polygon' ? [geometry.coordinates]
      : geometry.type === 'MultiPolygon' ? geometry.coordinates : [];
    polygons.forEach(function (rings) {
      group.addLayer(L.polygon(rings.map(function (ring) { return L.GeoJSON.coordsToLatLngs(ring); }), DRAW_STYLE));
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

  // The zones page: every zone coloured by party, the places faint underneath.
  var indexEl = document.getElementById('zones-map');
  if (indexEl) {
    var map = maps.baseMap(indexEl);
    var places = L.geoJSON(maps.readJSON(indexEl, 'places') || [], PLACE_STYLE).addTo(map);
    var zones = L.geoJSON(maps.readJSON(indexEl, 'zones') || [], {
      style: zoneStyle(false),
      onEachFeature: function (feature, layer) { layer.bindPopup(zonePopup(feature.properties, indexEl.dataset.editLabel)); }
    }).addTo(map);
    fitTo(map, zones.getLayers().length ? [zones] : [places]);
  }

  // The zone form: draw or edit the shape; the hidden input follows every change.
  var editEl = document.getElementById('zone-form-map');
  if (editEl && L.Control.Draw) {
    // Leaflet.draw 1.0.4 calls the alias Leaflet 1.9 deprecated (with a console warning each time).
    if (L.LineUtil.isFlat) L.Polyline._flat = L.LineUtil.isFlat;
    var input = editEl.closest('form').querySelector('[name=geometry]');
    localise(L.drawLocal, maps.readJSON(editEl, 'text'));
    var emap = maps.baseMap(editEl);
    var placeLayer = L.geoJSON(maps.readJSON(editEl, 'places') || [], PLACE_STYLE).addTo(emap);
    var others = L.geoJSON(maps.readJSON(editEl, 'zones') || [], { style: zoneStyle(true), interactive: false }).addTo(emap);
    var drawn = new L.FeatureGroup().addTo(emap);
    loadShape(drawn, input.value);
    emap.addControl(new L.Control.Draw({
      position: 'topleft',
      draw: {
        polygon: { allowIntersection: false, showArea: false, shapeOptions: DRAW_STYLE },
        polyline: false, rectangle: false, circle: false, marker: false, circlemarker: false
      },
      edit: { featureGroup: drawn, poly: { allowIntersection: false } }
    }));
    var save = function () { input.value = shapeOf(drawn); };
    emap.on(L.Draw.Event.CREATED, function (event) { drawn.addLayer(event.layer); });
    // Saved while editing too, so the form keeps the shape even if "Done" is never pressed;
    // cancelling puts the old layers back (layeradd) and ends with editstop, saving it again.
    drawn.on('layeradd layerremove', save);
    [L.Draw.Event.EDITED, L.Draw.Event.EDITVERTEX, L.Draw.Event.EDITMOVE, L.Draw.Event.EDITSTOP,
      L.Draw.Event.DELETESTOP].forEach(function (name) { emap.on(name, save); });
    fitTo(emap, drawn.getLayers().length ? [drawn] : [others, placeLayer]);
  }
})();
