/* fieldwalk: small behaviours shared by every page. */
(function () {
  'use strict';
  // htmx's settings, set here rather than in a <meta> that every page would carry: htmx reads
  // them when the document is parsed, after this deferred script has run.
  if (window.htmx) {
    var config = window.htmx.config;
    config.includeIndicatorStyles = false; // an inline <style>, which the CSP refuses
    config.allowEval = false;
    config.allowScriptTags = false;
    config.historyCacheSize = 0;
    config.responseHandling = [
      { code: '204', swap: false },
      { code: '[23]..', swap: true },
      { code: '(400|409|422)', swap: true, error: false },
      { code: '[45]..', swap: false, error: true }
    ];
  }

  // Select the whole invitation link on focus, so it is easy to copy on a phone.
  document.addEventListener('focusin', function (event) {
    if (event.target.matches && event.target.matches('input.copy')) event.target.select();
  });
})();
