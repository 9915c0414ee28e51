/* fieldwalk's weekly meeting: the week's events on a map, over the places on the page. Needs
 * Leaflet and map.js. Each event is a dot coloured by its type (the legend below the map names
 * the colours; the tables hold every figure); tapping one tells its type, source, time, place. */
(function () {
  'use strict';
  if (!window.L || !window.fieldwalkMaps) return;
  var maps = window.fieldwalkMaps;
  var el = document.getElementById('week-map');
  if (!el) return;
  // The same colours as the legend's swatches (reports.css).
  var COLOURS = {
    drug_dealing: '#a1001a', drug_use: '#7a2e8e', disorder: '#b35900', violence: '#111111',
    vandalism: '#0b4f6c', littering: '#1b6b2f', other: '#6b6b6b'
  };
  var data = maps.readJSON(el, 'map') || {};
  var map = maps.baseMap(el);
  var outlines = L.geoJSON(data.places || [], {
    style: { color: '#0b4f6c', weight: 2, fillOpacity: 0.06 },
    onEachFeature: function (feature, layer) {
      layer.bindTooltip(maps.textPopup(feature.properties.name), { sticky: true });
    }
  }).addTo(map);
  var dots = L.featureGroup().addTo(map);
  (data.events || []).forEach(function (e) {
    L.circleMarker([e.lat, e.lon], {
      radius: 7, color: '#fff', weight: 2, fillColor: COLOURS[e.type] || COLOURS.other, fillOpacity: 0.9
    }).bindPopup(maps.textPopup(e.label)).addTo(dots);
  });
  var bounds = dots.getLayers().length ? dots.getBounds() : outlines.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [16, 16], maxZoom: 16 });
})();
