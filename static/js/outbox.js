/* fieldwalk outbox: observations and photos waiting to reach the server.
 * Runs in pages and in the service worker (no DOM here). One IndexedDB store; photo bytes
 * kept as ArrayBuffer; replayed one entry at a time in the order recorded: first the
 * observation (PUT, declaring its photo UUIDs), then each photo (PUT by UUID). An entry leaves
 * only when the server confirmed everything: 200/201 with the stored resource's own id. */
(function (global) {
  'use strict';
  var DB_NAME = 'fieldwalk-outbox';
  var DB_VERSION = 1;
  var STORE = 'entries';
  var BACKOFF_BASE_MS = 2000;
  var BACKOFF_CAP_MS = 4 * 60 * 1000;
  var channel = typeof BroadcastChannel !== 'undefined' ? new BroadcastChannel('fieldwalk-outbox') : null;
  var listeners = [];
  var seqCounter = 0;
  var dbPromise = null;

  function open() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var req = indexedDB.open(DB_NAME, DB_VERSION);
        req.onupgradeneeded = function () {
          // Upgrades only ever add: entries must survive every new version of the app.
          if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE, { keyPath: 'id' });
        };
        req.onsuccess = function () {
          var db = req.result;
          db.onversionchange = function () { db.close(); dbPromise = null; };
          resolve(db);
        };
        req.onerror = function () { dbPromise = null; reject(req.error); };
      });
    }
    return dbPromise;
  }

  function write(fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, 'readwrite', { durability: 'strict' });
        fn(tx.objectStore(STORE));
        tx.oncomplete = function () { resolve(); };
        tx.onerror = tx.onabort = function () { reject(tx.error); };
      });
    });
  }

  function all() {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var req = db.transaction(STORE).objectStore(STORE).getAll();
        req.onsuccess = function () { resolve(req.result.sort(function (a, b) { return a.seq - b.seq; })); };
        req.onerror = function () { reject(req.error); };
      });
    });
  }

  function get(id) {
    return all().then(function (entries) { return entries.filter(function (e) { return e.id === id; })[0] || null; });
  }

  function changed() {
    listeners.forEach(function (fn) { try { fn(); } catch (e) { /* a listener's problem is not ours */ } });
    if (channel) channel.postMessage({ type: 'changed' });
  }
  if (channel) channel.onmessage = function () { listeners.forEach(function (fn) { fn(); }); };

  function put(entry) { return write(function (store) { store.put(entry); }).then(function () { changed(); return entry; }); }
  function remove(id) { return write(function (store) { store.delete(id); }).then(changed); }

  /* Queue an observation with its photos: [{id, name, type, data: ArrayBuffer}]. */
  function add(observationId, body, photos, meta) {
    var entry = {
      id: observationId,
      seq: Date.now() * 1000 + (seqCounter++ % 1000),
      created_at: new Date().toISOString(),
      walk_id: body.walk_id || null,
      meta: meta || {},
      body: body,
      photos: photos.map(function (p) {
        return { id: p.id, name: p.name || '', type: p.type || 'image/jpeg', size: p.data.byteLength, data: p.data, sent: false, state: 'waiting', error: '' };
      }),
      observation_sent: false,
      state: 'waiting',
      error: '',
      fields: null,
      attempts: 0,
      next_attempt_at: 0
    };
    return put(entry);
  }

  function counts() {
    return all().then(function (entries) {
      var c = { observations: 0, photos: 0, problems: 0 };
      entries.forEach(function (e) {
        if (e.state !== 'waiting') c.problems += 1;
        if (!e.observation_sent || e.photos.some(function (p) { return !p.sent; })) c.observations += 1;
        c.photos += e.photos.filter(function (p) { return !p.sent; }).length;
      });
      return c;
    });
  }

  // --- talking to the server --------------------------------------------------------------

  function fetchToken() {
    return fetch('/api/v1/session', { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (!data || typeof data.csrf_token !== 'string') throw new Error('no token');
        return data.csrf_token;
      });
  }

  function send(method, url, body, type, token, onProgress) {
    if (onProgress && typeof XMLHttpRequest !== 'undefined') {
      return new Promise(function (resolve) {
        var xhr = new XMLHttpRequest();
        xhr.open(method, url);
        xhr.setRequestHeader('Content-Type', type);
        xhr.setRequestHeader('Accept', 'application/json');
        xhr.setRequestHeader('X-CSRFToken', token);
        xhr.upload.onprogress = function (e) { if (e.lengthComputable) onProgress(e.loaded, e.total); };
        xhr.onload = function () {
          var json = null;
          try { json = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: not a confirmation */ }
          resolve({ status: xhr.status, json: json });
        };
        xhr.onerror = xhr.ontimeout = function () { resolve({ status: 0, json: null }); };
        xhr.timeout = 120000;
        xhr.send(body);
      });
    }
    return fetch(url, {
      method: method, body: body, credentials: 'same-origin', cache: 'no-store',
      headers: { 'Content-Type': type, Accept: 'application/json', 'X-CSRFToken': token }
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (json) { return { status: r.status, json: json }; });
    }, function () { return { status: 0, json: null }; });
  }

  /* What an answer means. Only 200/201 carrying the resource's own id is a confirmation:
   * a captive portal's 200 page, a proxy's error page or a dropped connection is not. */
  function judge(answer, id) {
    var s = answer.status, json = answer.json;
    if ((s === 200 || s === 201) && json && json.id === id) return 'ok';
    if (s === 400 && json && json.error === 'csrf') return 'csrf';
    if (s === 401) return 'login';
    if (s === 409) return 'conflict';
    if (s === 408 || s === 425 || s === 429) return 'transient';
    if (s >= 400 && s < 500 && json) return 'rejected';
    return 'transient';
  }

  function reason(answer) {
    return (answer.json && answer.json.message) || ('HTTP ' + answer.status);
  }

  function sendEntry(entry, auth, options) {
    var step = Promise.resolve('ok');
    if (!entry.observation_sent) {
      step = send('PUT', '/api/v1/observations/' + entry.id, JSON.stringify(entry.body), 'application/json', auth.token)
        .then(function (answer) {
          var verdict = judge(answer, entry.id);
          if (verdict !== 'ok') return settle(entry, verdict, answer, null);
          entry.observation_sent = true;
          var missing = answer.json.photos_missing || [];
          entry.photos.forEach(function (p) { if (missing.indexOf(p.id) === -1) { p.sent = true; p.data = null; } });
          return put(entry).then(function () { return 'ok'; });
        });
    }
    return step.then(function (verdict) {
      if (verdict !== 'ok') return verdict;
      var pending = entry.photos.filter(function (p) { return !p.sent && p.state !== 'rejected'; });
      return pending.reduce(function (chain, photo, index) {
        return chain.then(function (v) {
          if (v !== 'ok') return v;
          var progress = options.onProgress && function (loaded, total) { options.onProgress(entry, index, pending.length, loaded, total); };
          return send('PUT', '/api/v1/observations/' + entry.id + '/photos/' + photo.id, photo.data, photo.type, auth.token, progress)
            .then(function (answer) {
              var v2 = judge(answer, photo.id);
              if (v2 !== 'ok') return settle(entry, v2, answer, photo);
              photo.sent = true;
              photo.data = null;  // free the phone's storage as soon as the server has it
              return put(entry).then(function () { return 'ok'; });
            });
        });
      }, Promise.resolve('ok')).then(function (v) {
        if (v !== 'ok') return v;
        return entry.photos.some(function (p) { return p.state === 'rejected'; }) ? 'rejected' : 'done';
      });
    });
  }

  function settle(entry, verdict, answer, photo) {
    if (verdict === 'rejected' || verdict === 'conflict') {
      entry.state = verdict;
      entry.error = reason(answer);
      entry.fields = (answer.json && answer.json.fields) || null;
      if (photo) { photo.state = verdict === 'rejected' ? 'rejected' : photo.state; photo.error = entry.error; }
      return put(entry).then(function () { return verdict; });
    }
    return Promise.resolve(verdict);
  }

  function backoff(entry) {
    entry.attempts += 1;
    var delay = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * Math.pow(2, entry.attempts - 1));
    entry.next_attempt_at = Date.now() + delay * (0.75 + Math.random() * 0.5);
    return put(entry);
  }

  function runReplay(options) {
    var summary = { sent: 0, retry: false, login: false, offline: false };
    return all().then(function (entries) {
      var queue = entries.filter(function (e) { return e.state === 'waiting'; });
      if (!queue.length) return summary;
      var auth = {};
      return fetchToken().then(function (token) {
        auth.token = token;
        var next = function (i) {
          if (i >= queue.length) return summary;
          var entry = queue[i];
          if (!options.force && entry.next_attempt_at > Date.now()) { summary.retry = true; return summary; }
          return sendEntry(entry, auth, options).then(function (verdict) {
            if (verdict === 'csrf') {
              return fetchToken().then(function (token) { auth.token = token; return sendEntry(entry, auth, options); });
            }
            return verdict;
          }).then(function (verdict) {
            if (verdict === 'done') {
              summary.sent += 1;
              return remove(entry.id).then(function () { return next(i + 1); });
            }
            if (verdict === 'rejected' || verdict === 'conflict') return next(i + 1);
            if (verdict === 'login') { summary.login = true; return summary; }
            // Transient: keep the order, try again later.
            summary.retry = true;
            return backoff(entry).then(function () { return summary; });
          });
        };
        return next(0);
      }, function () {
        summary.retry = true;
        summary.offline = true;
        return summary;
      });
    });
  }

  /* Send what waits. One replay at a time across tabs and the worker (Web Locks); the server's
   * idempotency makes even a double replay harmless. */
  function replay(options) {
    options = options || {};
    if (global.navigator && navigator.locks && navigator.locks.request) {
      return navigator.locks.request('fieldwalk-outbox', { ifAvailable: true }, function (lock) {
        if (!lock) return { sent: 0, retry: false, busy: true };
        return runReplay(options);
      });
    }
    return runReplay(options);
  }

  // --- fixing what was refused --------------------------------------------------------------

  function update(id, fn) {
    return get(id).then(function (entry) {
      if (!entry) return null;
      fn(entry);
      return put(entry);
    });
  }

  function retry(id, changes) {
    return update(id, function (entry) {
      if (changes) Object.keys(changes).forEach(function (k) { entry.body[k] = changes[k]; });
      if (entry.state === 'rejected' && !entry.observation_sent) entry.observation_sent = false;
      entry.photos.forEach(function (p) { if (p.state === 'rejected') { p.state = 'waiting'; p.error = ''; } });
      entry.state = 'waiting'; entry.error = ''; entry.fields = null; entry.attempts = 0; entry.next_attempt_at = 0;
    });
  }

  function uuid() {
    if (global.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  /* A 409 means the UUID holds other content on the server: keep ours as a new observation. */
  function resendAsNew(id) {
    return get(id).then(function (entry) {
      if (!entry) return null;
      var photos = entry.photos.filter(function (p) { return p.data; }).map(function (p) {
        return { id: uuid(), name: p.name, type: p.type, data: p.data };
      });
      var body = JSON.parse(JSON.stringify(entry.body));
      body.photos = photos.map(function (p) { return p.id; });
      return remove(id).then(function () { return add(uuid(), body, photos, entry.meta); });
    });
  }

  function discardPhoto(id, photoId) {
    return update(id, function (entry) {
      entry.photos.forEach(function (p) { if (p.id === photoId && !p.sent) { p.state = 'discarded'; p.sent = true; p.data = null; } });
      if (entry.state === 'rejected' && !entry.photos.some(function (p) { return p.state === 'rejected'; })) {
        entry.state = 'waiting'; entry.error = '';
      }
    });
  }

  global.FieldwalkOutbox = {
    add: add, all: all, get: get, remove: remove, counts: counts, replay: replay, retry: retry,
    resendAsNew: resendAsNew, discardPhoto: discardPhoto, uuid: uuid,
    onChange: function (fn) { listeners.push(fn); },
    judge: judge
  };
})(typeof self !== 'undefined' ? self : this);
