/* fieldwalk: small behaviours shared by every page. */
(function () {
  'use strict';
  // Select the whole invitation link on focus, so it is easy to copy on a phone.
  document.addEventListener('focusin', function (event) {
    if (event.target.matches && event.target.matches('input.copy')) event.target.select();
  });
})();
