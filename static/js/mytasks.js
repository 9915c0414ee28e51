/* fieldwalk tasks on the engineer's phone: ask for the position once for "nearest first",
 * draw My tasks on a small map, and show the after-photo before it is sent.
 * Everything here is an extra: the pages work as plain links and forms without it. */
(function () {
  'use strict';

  // My tasks, nearest first: the server orders by distance once the URL carries the position.
  var status = document.getElementById('position-status');
  if (status && status.dataset.needsPosition === 'true' && navigator.geolocation) {
    navigator.geolocation.getCurrentPosition(function (position) {
      var url = new URL(window.location.href);
      url.searchParams.set('sort', 'near');
      url.searchParams.delete('page');  // the nearest are on the first page
      url.searchParams.set('lat', position.coords.latitude.toFixed(5));
      url.searchParams.set('lon', position.coords.longitude.toFixed(5));
      window.location.replace(url.toString());  // no extra history entry for the same list
    }, function () {
      status.textContent = status.dataset.fail;
    }, { enableHighAccuracy: false, timeout: 15000, maximumAge: 60000 });
  }

  // The small map of My tasks: one pin per task, each opening its task page.
  var mapEl = document.getElementById('tasks-map');
  var maps = window.fieldwalkMaps;
  if (mapEl && maps && window.L) {
    var points = maps.readJSON(mapEl, 'points') || [];
    var here = maps.readJSON(mapEl, 'here');
    var map = maps.baseMap(mapEl);
    var bounds = [];
    points.forEach(function (t) {
      var link = document.createElement('a');
      link.href = t.url;
      link.textContent = t.label;
      L.marker([t.lat, t.lon], { icon: maps.pinIcon(''), title: t.label, alt: t.label, keyboard: false })
        .bindPopup(link).addTo(map);
      bounds.push([t.lat, t.lon]);
    });
    if (here) {
      L.circleMarker(here, { radius: 7, color: '#fff', weight: 3, fillColor: '#7a2e8e', fillOpacity: 1 }).addTo(map);
      bounds.push(here);
    }
    if (bounds.length === 1) map.setView(bounds[0], 17);
    else if (bounds.length) map.fitBounds(bounds, { padding: [24, 24], maxZoom: 17 });
  }

  // The task page: show the photo just taken, and bring "Send" into reach of the thumb.
  var input = document.getElementById('after-photo');
  var preview = document.getElementById('after-photo-preview');
  var send = document.getElementById('send-done');
  if (input && preview && send) {
    input.addEventListener('change', function () {
      preview.textContent = '';
      Array.prototype.forEach.call(input.files || [], function (file) {
        var item = document.createElement('li');
        var img = document.createElement('img');
        img.alt = file.name;
        img.src = URL.createObjectURL(file);
        img.onload = function () { URL.revokeObjectURL(img.src); };
        item.appendChild(img);
        preview.appendChild(item);
      });
      if (input.files && input.files.length) {
        send.scrollIntoView({ block: 'center' });
        send.focus({ preventScroll: true });
      }
    });
  }
})();
