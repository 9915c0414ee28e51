/* fieldwalk maps: the walk's map, and the meeting point and route editor. Needs Leaflet. */
(function () {
  'use strict';
  if (!window.L) return;
  var PLACE_STYLE = { color: '#0b4f6c', weight: 2, fillOpacity: 0.08 };
  var ROUTE_STYLE = { color: '#7a2e8e', weight: 4, dashArray: '6 6' };

  function readJSON(el, name) {
    try { return JSON.parse(el.dataset[name] || 'null'); } catch (e) { return null; }
  }

  function baseMap(el) {
    var tiles = readJSON(el, 'tiles') || {};
    var map = L.map(el, { scrollWheelZoom: false, tap: true, zoomControl: false });
    // Leaflet's own zoom buttons, with their titles (their accessible names) in the page's language.
    L.control.zoom({ zoomInTitle: tiles.zoomIn || 'Zoom in', zoomOutTitle: tiles.zoomOut || 'Zoom out' }).addTo(map);
    map.setView([59.363, 17.86], 13);
    // Tiles come once the caller has set the view it wants (drawPlace fits the place), so none
    // are fetched for the default view first. detectRetina: sharp tiles on a phone's screen.
    if (tiles.url) {
      var layer = L.tileLayer(tiles.url, { attribution: tiles.attribution, maxZoom: tiles.maxZoom || 19, detectRetina: true });
      Promise.resolve().then(function () { layer.addTo(map); });
    }
    return map;
  }

  // Every marker is a CSS pin: Leaflet's default marker would download three PNGs (~6.5 KB).
  // The pin shows at 18, 24 or 28 px; what a finger can tap around it is 44 px.
  var TAP = 44;
  function pinIcon(kind, size) {
    size = size || 18;
    return L.divIcon({ className: 'pin-wrap', html: '<span class="pin s' + size + ' ' + (kind || '') + '"></span>', iconSize: [TAP, TAP], iconAnchor: [TAP / 2, TAP / 2] });
  }

  function textPopup(text) {
    var p = document.createElement('p');
    p.textContent = text;
    return p;
  }

  function drawPlace(map, feature) {
    if (!feature) return null;
    var layer = L.geoJSON(feature, { style: PLACE_STYLE }).addTo(map);
    map.fitBounds(layer.getBounds(), { padding: [12, 12], animate: false });
    return layer;
  }

  window.fieldwalkMaps = { baseMap: baseMap, pinIcon: pinIcon, drawPlace: drawPlace, textPopup: textPopup, readJSON: readJSON };

  // The walk page: place, route, meeting point and every observation, redrawn as the list updates.
  var walkEl = document.getElementById('walk-map');
  if (walkEl) {
    var data = readJSON(walkEl, 'map') || {};
    var map = baseMap(walkEl);
    drawPlace(map, data.place);
    if (data.route) L.geoJSON(data.route, { style: ROUTE_STYLE }).addTo(map);
    if (data.meeting) L.marker(data.meeting, { icon: pinIcon('meeting', 24), keyboard: false }).addTo(map);
    var observations = L.layerGroup().addTo(map);
    var drawObservations = function () {
      observations.clearLayers();
      var list = document.querySelector('#observation-list ul.observations');
      var points = list ? readJSON(list, 'geojson') || [] : [];
      points.forEach(function (o) {
        var kind = o.urgent ? 'urgent' : (o.good ? 'good' : '');
        L.marker([o.lat, o.lon], { icon: pinIcon(kind), title: o.label, alt: o.label, keyboard: false })
          .bindPopup(textPopup(o.label)).addTo(observations);
      });
    };
    drawObservations();
    document.body.addEventListener('htmx:afterSettle', drawObservations);
  }

  // The walk form: tap to set the meeting point, or draw the route point by point.
  var formEl = document.getElementById('walk-form-map');
  if (formEl) {
    var form = formEl.closest('form');
    var places = readJSON(formEl, 'places') || [];
    var fmap = baseMap(formEl);
    var placeLayer = null, meeting = null, drawing = false;
    var latInput = form.querySelector('[name=meeting_lat]'), lonInput = form.querySelector('[name=meeting_lon]');
    var routeInput = form.querySelector('[name=route]');
    var routeLine = L.polyline([], ROUTE_STYLE).addTo(fmap);
    var select = form.querySelector('[name=place_id]');
    var showPlace = function () {
      if (placeLayer) fmap.removeLayer(placeLayer);
      var chosen = places.filter(function (p) { return String(p.id) === select.value; })[0];
      placeLayer = drawPlace(fmap, chosen);
    };
    var setMeeting = function (latlng) {
      if (meeting) meeting.setLatLng(latlng); else meeting = L.marker(latlng, { icon: pinIcon('meeting', 28), draggable: true, title: formEl.dataset.meetingLabel }).addTo(fmap);
      latInput.value = latlng.lat.toFixed(6); lonInput.value = latlng.lng.toFixed(6);
      meeting.off('dragend').on('dragend', function () { setMeeting(meeting.getLatLng()); });
    };
    var saveRoute = function () {
      var pts = routeLine.getLatLngs();
      routeInput.value = pts.length >= 2 ? JSON.stringify({ type: 'LineString', coordinates: pts.map(function (p) { return [+p.lng.toFixed(6), +p.lat.toFixed(6)]; }) }) : '';
    };
    if (latInput.value && lonInput.value) setMeeting(L.latLng(+latInput.value, +lonInput.value));
    if (routeInput.value) {
      try { routeLine.setLatLngs(JSON.parse(routeInput.value).coordinates.map(function (c) { return [c[1], c[0]]; })); } catch (e) { routeInput.value = ''; }
    }
    select.addEventListener('change', showPlace);
    showPlace();
    var mark = function (latlng) {
      if (drawing) { routeLine.addLatLng(latlng); saveRoute(); } else { setMeeting(latlng); }
    };
    fmap.on('click', function (event) { mark(event.latlng); });
    // Leaflet pans with the arrow keys; Enter or Space marks the middle of the map.
    formEl.addEventListener('keydown', function (event) {
      if (event.target !== formEl || (event.key !== 'Enter' && event.key !== ' ')) return;
      event.preventDefault();
      mark(fmap.getCenter());
    });
    var drawButton = document.getElementById('draw-route');
    drawButton.addEventListener('click', function () {
      drawing = !drawing;
      drawButton.setAttribute('aria-pressed', String(drawing));
    });
    document.getElementById('clear-route').addEventListener('click', function () { routeLine.setLatLngs([]); saveRoute(); });
  }
})();
