/* fieldwalk offline: the service worker, the outbox counter on every page, sync triggers,
 * "update available", and the waiting items shown in a walk's list. Needs outbox.js. */
(function () {
  'use strict';
  var outbox = window.FieldwalkOutbox;
  var configEl = document.getElementById('offline-config');
  if (!outbox || !configEl || !window.indexedDB) return;
  var config = JSON.parse(configEl.textContent);
  var msg = config.msg;
  var bar = document.getElementById('outbox-bar');
  var barText = document.getElementById('outbox-text');
  var sendButton = document.getElementById('outbox-send');
  var barProgress = document.getElementById('outbox-progress');
  var registration = null;
  var timer = null;
  var running = false;

  function fill(text, values) { return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; }); }
  // "1 photo", "2 photos": the page gives [singular, plural] (Swedish and English: one is 1).
  function count(forms, n) { return fill(forms[n === 1 ? 0 : 1], { n: n }); }

  // --- the counter on every page -------------------------------------------------------------
  var loginNeeded = false;
  function showCounts() {
    return outbox.counts().then(function (c) {
      if (!bar) return c;
      bar.hidden = c.observations === 0 && c.problems === 0;
      var text = fill(msg.waiting, { o: count(msg.observations, c.observations), p: count(msg.photos, c.photos) });
      if (c.problems) text += ' ' + fill(msg.problems, { n: c.problems });
      if (loginNeeded) text += ' ' + msg.login;
      barText.textContent = text;
      return c;
    });
  }

  // --- storage -----------------------------------------------------------------------------
  function checkStorage() {
    if (!navigator.storage) return;
    if (navigator.storage.persist) navigator.storage.persist().catch(function () {});
    if (navigator.storage.estimate) {
      navigator.storage.estimate().then(function (e) {
        var warn = document.getElementById('storage-warning');
        if (!warn || !e.quota) return;
        var nearlyFull = e.usage / e.quota > 0.9 || e.quota - e.usage < 30 * 1024 * 1024;
        warn.hidden = !nearlyFull;
        warn.textContent = nearlyFull ? msg.storageFull : '';
      });
    }
  }

  // --- sending -----------------------------------------------------------------------------
  function scheduleRetry() {
    clearTimeout(timer);
    outbox.all().then(function (entries) {
      var waiting = entries.filter(function (e) { return e.state === 'waiting'; });
      if (!waiting.length) return;
      var at = Math.min.apply(null, waiting.map(function (e) { return e.next_attempt_at || 0; }));
      timer = setTimeout(function () { sync(false); }, Math.max(1000, at - Date.now()));
    });
  }

  function onProgress(entry, index, total, loaded, size) {
    if (!barProgress) return;
    barProgress.hidden = false;
    barProgress.value = Math.round(100 * (index + loaded / size) / total);
  }

  function sync(force) {
    if (running) return Promise.resolve(null);
    running = true;
    return outbox.replay({ force: force, onProgress: onProgress }).then(function (result) {
      loginNeeded = !!(result && result.login);
      if (result && result.retry) {
        scheduleRetry();
        if (registration && registration.sync) registration.sync.register('fieldwalk-outbox').catch(function () {});
      }
      if (result && result.sent) document.dispatchEvent(new CustomEvent('fieldwalk:sent', { detail: result }));
      return result;
    }).catch(function () { scheduleRetry(); return null; }).then(function (result) {
      running = false;
      if (barProgress) barProgress.hidden = true;
      showCounts();
      return result;
    });
  }
  window.FieldwalkSync = { now: function () { checkStorage(); return sync(true); } };

  if (sendButton) sendButton.addEventListener('click', function () { sync(true); });
  window.addEventListener('online', function () { outbox.spread().then(function () { sync(true); }); });
  document.addEventListener('visibilitychange', function () { if (document.visibilityState === 'visible') sync(false); });
  // A replay changes the outbox several times a second: refresh at once when idle, else once
  // after the running refresh and a second's pause, so the counter and the list keep up
  // without reading the outbox once per change.
  var refreshing = false, refreshAgain = false;
  function refresh() {
    if (refreshing) { refreshAgain = true; return; }
    refreshing = true;
    Promise.all([showCounts(), renderPending()]).catch(function () {}).then(function () {
      setTimeout(function () {
        refreshing = false;
        if (refreshAgain) { refreshAgain = false; refresh(); }
      }, 1000);
    });
  }
  outbox.onChange(refresh);

  // --- waiting observations shown in the walk's list -----------------------------------------
  function renderPending() {
    var section = document.getElementById('observation-list');
    if (!section) return;
    var walkId = Number(section.dataset.walkId);
    return outbox.all().then(function (entries) {
      var list = section.querySelector('ul.observations');
      section.querySelectorAll('li.pending').forEach(function (li) { li.remove(); });
      var mine = entries.filter(function (e) { return e.walk_id === walkId; });
      if (!mine.length) return;
      if (!list) {
        list = document.createElement('ul');
        list.className = 'observations';
        var empty = section.querySelector('.empty');
        if (empty) empty.hidden = true;
        section.appendChild(list);
      }
      mine.forEach(function (e) {  // oldest first, each prepended: newest on top
        var li = document.createElement('li');
        li.className = 'observation pending' + (e.state === 'waiting' ? '' : ' problem');
        li.id = 'pending-' + e.id;
        var icon = document.createElement('span');
        icon.className = 'nophoto';
        icon.setAttribute('aria-hidden', 'true');
        var body = document.createElement('div');
        var title = document.createElement('p');
        title.className = 'cat';
        title.textContent = (e.meta && e.meta.label) || e.body.category;
        var state = document.createElement('p');
        state.className = e.state === 'waiting' ? 'meta waiting' : 'warning';
        state.textContent = e.state === 'waiting' ? msg.waitingOne : fill(msg.refused, { reason: e.error });
        body.append(title);
        if (e.body.description) {
          var desc = document.createElement('p');
          desc.className = 'desc';
          desc.textContent = e.body.description;
          body.append(desc);
        }
        body.append(state);
        li.append(icon, body);
        list.prepend(li);
      });
    });
  }
  document.body.addEventListener('htmx:afterSettle', renderPending);

  // --- the service worker and "update available" -----------------------------------------------
  var reloading = false;
  function reloadOnce() {
    if (!reloading) return;
    reloading = false;
    window.location.reload();
  }
  function offerUpdate(worker) {
    var banner = document.getElementById('update-banner');
    if (!banner || !worker) return;
    banner.hidden = false;
    document.getElementById('update-button').onclick = function () {
      reloading = true;  // only when the person said yes: never in the middle of a form
      worker.addEventListener('statechange', function () { if (worker.state === 'activated') reloadOnce(); });
      worker.postMessage({ type: 'SKIP_WAITING' });
    };
  }
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.addEventListener('controllerchange', reloadOnce);
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).then(function (reg) {
      registration = reg;
      if (reg.waiting && reg.active) offerUpdate(reg.waiting);
      reg.addEventListener('updatefound', function () {
        var installing = reg.installing;
        installing.addEventListener('statechange', function () {
          if (installing.state === 'installed' && reg.active && reg.active !== installing) offerUpdate(installing);
        });
      });
      // A page meant for offline use (the capture screen) may have loaded before the worker
      // was in charge: have it kept now rather than on the next visit.
      if (!document.body.hasAttribute('data-keep-offline')) return;
      navigator.serviceWorker.ready.then(function (ready) {
        return caches.match(window.location.href, { ignoreVary: true }).then(function (found) {
          if (!found && ready.active) ready.active.postMessage({ type: 'KEEP_PAGE', url: window.location.href });
        });
      }).catch(function () {});
    }).catch(function () { /* no worker (e.g. plain http on a LAN address): the outbox still works */ });
  }

  showCounts();
  renderPending();
  sync(false);
})();
