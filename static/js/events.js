/* fieldwalk events: fill the event form's optional position from the phone.
 * An extra: without it the position is typed in, or left out for the chosen place. */
(function () {
  'use strict';

  var button = document.getElementById('use-position');
  if (!button || !navigator.geolocation) return;
  var status = document.getElementById('position-status');
  var lat = document.getElementById('lat');
  var lon = document.getElementById('lon');
  button.hidden = false;
  button.addEventListener('click', function () {
    status.textContent = button.dataset.finding;
    navigator.geolocation.getCurrentPosition(function (position) {
      lat.value = position.coords.latitude.toFixed(6);
      lon.value = position.coords.longitude.toFixed(6);
      status.textContent = button.dataset.found.replace('{m}', Math.round(position.coords.accuracy));
    }, function () {
      status.textContent = button.dataset.failed;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
})();
