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

  /* Leaflet and our map code (the largest download by far) load only for a map that is opened
   * on request (the capture screen's "Change on the map"). The element names the files in
   * data-assets: {"css": [...], "js": [...]}, loaded in order. */
  var mapLoading = null;
  function add(tag, attributes) {
    return new Promise(function (resolve, reject) {
      var el = document.createElement(tag);
      Object.keys(attributes).forEach(function (name) { el[name] = attributes[name]; });
      el.onload = resolve;
      el.onerror = reject;
      document.head.appendChild(el);
    });
  }
  window.fieldwalkLoadMap = function (el) {
    if (window.fieldwalkMaps) return Promise.resolve(window.fieldwalkMaps);
    if (!mapLoading) {
      var assets = JSON.parse(el.getAttribute('data-assets'));
      var styles = Promise.all(assets.css.map(function (href) { return add('link', { rel: 'stylesheet', href: href }); }));
      var scripts = assets.js.reduce(function (chain, src) {
        return chain.then(function () { return add('script', { src: src }); });
      }, Promise.resolve());
      mapLoading = Promise.all([styles, scripts]).then(function () {
        if (!window.fieldwalkMaps) throw new Error('map not loaded');
        return window.fieldwalkMaps;
      });
      mapLoading.catch(function () { mapLoading = null; });  // offline: try again next time
    }
    return mapLoading;
  };
  // Select the whole invitation link on focus, so it is easy to copy on a phone.
  document.addEventListener('focusin', function (event) {
    if (event.target.matches && event.target.matches('input.copy')) event.target.select();
  });
})();
