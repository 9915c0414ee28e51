/* fieldwalk theme: light, or dark for walks at dusk. Follows the phone's setting until the
 * person chooses with the switch in the top bar; the choice is kept on the phone. Loaded in
 * <head> without defer (the CSP allows no inline script), so <html> has its theme before the
 * first paint: nothing white flashes between pages. */
(function () {
  'use strict';
  var KEY = 'fieldwalk-theme', root = document.documentElement;
  try {
    var chosen = localStorage.getItem(KEY);
    if (chosen === 'dark' || chosen === 'light') root.setAttribute('data-theme', chosen);
  } catch (e) { /* storage blocked: the phone's setting applies */ }
  var system = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
  function isDark() {
    var theme = root.getAttribute('data-theme');
    return theme ? theme === 'dark' : !!(system && system.matches);
  }
  document.addEventListener('DOMContentLoaded', function () {
    var button = document.getElementById('theme-switch');
    if (!button) return;
    var show = function () { button.setAttribute('aria-pressed', String(isDark())); };
    show();
    button.hidden = false;
    button.addEventListener('click', function () {
      var next = isDark() ? 'light' : 'dark';
      root.setAttribute('data-theme', next);
      try { localStorage.setItem(KEY, next); } catch (e) { /* kept for this page only */ }
      show();
    });
    if (system && system.addEventListener) system.addEventListener('change', show);
  });
})();
