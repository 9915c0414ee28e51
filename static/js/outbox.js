/* fieldwalk outbox: observations and photos waiting to reach the server.
 * Runs in pages and in the service worker (no DOM here). Two IndexedDB stores: `entries`
 * (an observation and what is known about its photos, small) and `photos` (each photo's
 * bytes as an ArrayBuffer, keyed by its UUID), so counting, listing and bookkeeping never read
 * photo bytes. Replayed one entry at a time in the order recorded: first the observation (PUT,
 * declaring its photo UUIDs), then each photo (PUT by UUID). An entry leaves only when the
 * server confirmed everything: 200/201 with the stored resource's own id. */
(function (global) {
  'use strict';
  var DB_NAME = 'fieldwalk-outbox';
  var DB_VERSION = 2;
  var STORE = 'entries';
  var PHOTOS = 'photos';
  var BACKOFF_BASE_MS = 2000;
  var BACKOFF_CAP_MS = 4 * 60 * 1000;
  var channel = typeof BroadcastChannel !== 'undefined' ? new BroadcastChannel('fieldwalk-outbox') : null;
  var listeners = [];
  var seqCounter = 0;
  var dbPromise = null;
  // The reason shown if a photo's bytes are gone from the phone (storage cleared by hand), in
  // the page's language (the worker has no page: the browser's), Swedish unless English.
  var lang = (global.document && document.documentElement.lang) || (global.navigator && navigator.language) || 'sv';
  var MISSING = lang.slice(0, 2) === 'en' ? 'The photo is no longer on this phone.' : 'Fotot finns inte längre på telefonen.';

  /* Version 1 kept each photo's bytes inside its entry (`photos[i].data`). Version 2 moves
   * them, in the upgrade's own transaction (all or nothing), to the `photos` store. Upgrades
   * only ever add: entries must survive every new version of the app. */
  function upgrade(db, tx, oldVersion) {
    if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: 'id' });
    if (!db.objectStoreNames.contains(PHOTOS)) {
      db.createObjectStore(PHOTOS, { keyPath: 'id' }).createIndex('entry', 'entry');
    }
    if (oldVersion >= 1 && oldVersion < 2) {
      var photos = tx.objectStore(PHOTOS);
      tx.objectStore(STORE).openCursor().onsuccess = function (event) {
        var cursor = event.target.result;
        if (!cursor) return;
        var entry = cursor.value;
        entry.photos.forEach(function (p) {
          if (p.data) photos.put({ id: p.id, entry: entry.id, data: p.data });
          delete p.data;
        });
        cursor.update(entry);
        cursor.continue();
      };
    }
  }

  function open() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var req = indexedDB.open(DB_NAME, DB_VERSION);
        req.onupgradeneeded = function (event) { upgrade(req.result, req.transaction, event.oldVersion); };
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

  /* One transaction over both stores: fn(entries, photos) queues its requests and may return
   * a value read from them (a holder filled in by the requests). Strict durability (flushed to
   * disk) where losing the write would lose what the person recorded or decided. */
  function transact(mode, durability, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction([STORE, PHOTOS], mode, { durability: durability || 'default' });
        var result = fn(tx.objectStore(STORE), tx.objectStore(PHOTOS));
        tx.oncomplete = function () { resolve(result); };
        tx.onerror = tx.onabort = function () { reject(tx.error); };
      });
    });
  }

  function request(store, method, arg, into, key) {
    store[method](arg).onsuccess = function (event) { into[key] = event.target.result; };
  }

  function all() {
    return transact('readonly', null, function (entries) {
      var out = {};
      request(entries, 'getAll', undefined, out, 'entries');
      return out;
    }).then(function (out) { return out.entries.sort(function (a, b) { return a.seq - b.seq; }); });
  }

  function get(id) {
    return transact('readonly', null, function (entries) {
      var out = {};
      request(entries, 'get', id, out, 'entry');
      return out;
    }).then(function (out) { return out.entry || null; });
  }

  /* A photo's bytes (ArrayBuffer), or null once sent or discarded. */
  function photoData(photoId) {
    return photoBytes([photoId]).then(function (bytes) { return bytes[photoId]; });
  }

  /* The bytes of several photos, read in one transaction: {photoId: ArrayBuffer or null}. */
  function photoBytes(photoIds) {
    return transact('readonly', null, function (entries, photos) {
      var out = {};
      photoIds.forEach(function (id) {
        photos.get(id).onsuccess = function (event) { out[id] = event.target.result ? event.target.result.data : null; };
      });
      return out;
    });
  }

  function changed() {
    listeners.forEach(function (fn) { try { fn(); } catch (e) { /* a listener's problem is not ours */ } });
    if (channel) channel.postMessage({ type: 'changed' });
  }
  if (channel) channel.onmessage = function () { listeners.forEach(function (fn) { fn(); }); };

  function forgetPhotos(photos, entryId) {
    photos.index('entry').openKeyCursor(IDBKeyRange.only(entryId)).onsuccess = function (event) {
      var cursor = event.target.result;
      if (!cursor) return;
      photos.delete(cursor.primaryKey);
      cursor.continue();
    };
  }

  /* Keep the entry's new state; the bytes of photos the server has (or that were discarded)
   * go. Only while the entry is still queued: one that another tab has meanwhile delivered
   * and removed is not brought back. */
  function save(entry) {
    return transact('readwrite', 'strict', function (entries, photos) {
      entries.getKey(entry.id).onsuccess = function (event) {
        if (event.target.result === undefined) return;
        entries.put(entry);
        entry.photos.forEach(function (p) { if (p.sent) photos.delete(p.id); });
      };
    }).then(function () { changed(); return entry; });
  }

  /* Entry and photos go together. Relaxed durability is enough: an entry that comes back after
   * a crash is sent again, and the server answers 200 for what it already holds. */
  function removeIn(entries, photos, id) {
    entries.delete(id);
    forgetPhotos(photos, id);
  }
  function remove(id) {
    return transact('readwrite', 'relaxed', function (entries, photos) { removeIn(entries, photos, id); }).then(changed);
  }

  function newEntry(observationId, body, photos, meta) {
    return {
      id: observationId,
      seq: Date.now() * 1000 + (seqCounter++ % 1000),
      created_at: new Date().toISOString(),
      walk_id: body.walk_id || null,
      meta: meta || {},
      body: body,
      photos: photos.map(function (p) {
        return {
          id: p.id, name: p.name || '', type: p.type || 'image/jpeg', size: p.data.byteLength, sent: false, state: 'waiting', error: '',
          gps: p.gps || null, taken_at: p.taken_at || null  // read from the original's EXIF, sent beside the bytes
        };
      }),
      observation_sent: false,
      state: 'waiting',
      error: '',
      fields: null,
      attempts: 0,
      next_attempt_at: 0
    };
  }
  function addIn(entries, photoStore, entry, photos) {
    photos.forEach(function (p) { photoStore.put({ id: p.id, entry: entry.id, data: p.data }); });
    entries.put(entry);
  }

  /* Queue an observation with its photos: [{id, name, type, data: ArrayBuffer, gps: [lat, lon]
   * or null, taken_at: ISO or null}], durably and all at once (the entry and every photo, or
   * nothing). */
  function add(observationId, body, photos, meta) {
    var entry = newEntry(observationId, body, photos, meta);
    return transact('readwrite', 'strict', function (entries, photoStore) { addIn(entries, photoStore, entry, photos); })
      .then(function () { changed(); return entry; });
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

  /* What the phone read from a photo's EXIF before it was made smaller (which drops EXIF),
   * as the headers the server reads when the bytes carry no position or time of their own. */
  function photoHeaders(photo) {
    var headers = {};
    if (photo.gps) { headers['X-Photo-Lat'] = String(photo.gps[0]); headers['X-Photo-Lon'] = String(photo.gps[1]); }
    if (photo.taken_at) headers['X-Photo-Taken-At'] = photo.taken_at;
    return headers;
  }

  function send(method, url, body, type, token, onProgress, extra) {
    var headers = { 'Content-Type': type, Accept: 'application/json', 'X-CSRFToken': token };
    Object.keys(extra || {}).forEach(function (name) { headers[name] = extra[name]; });
    if (onProgress && typeof XMLHttpRequest !== 'undefined') {
      return new Promise(function (resolve) {
        var xhr = new XMLHttpRequest();
        xhr.open(method, url);
        Object.keys(headers).forEach(function (name) { xhr.setRequestHeader(name, headers[name]); });
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
      method: method, body: body, credentials: 'same-origin', cache: 'no-store', headers: headers
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

  function unsent(entry) {
    return entry.photos.filter(function (p) { return !p.sent && p.state !== 'rejected'; });
  }

  /* Send one entry. Progress is kept in memory while it goes well: the entry leaves the outbox
   * as soon as everything is confirmed, so the phone writes once per entry, not once per
   * request. After a crash half-way the entry is sent again from the start, which the server
   * answers 200 for what it already holds. State is written when something goes wrong.
   * `bytes` is a promise of its photos' bytes (read ahead, while the entry before was sent). */
  function sendEntry(entry, auth, options, bytes) {
    var step = Promise.resolve('ok');
    if (!entry.observation_sent) {
      step = send('PUT', '/api/v1/observations/' + entry.id, JSON.stringify(entry.body), 'application/json', auth.token)
        .then(function (answer) {
          var verdict = judge(answer, entry.id);
          if (verdict !== 'ok') return settle(entry, verdict, answer, null);
          entry.observation_sent = true;
          var missing = answer.json.photos_missing || [];
          entry.photos.forEach(function (p) { if (missing.indexOf(p.id) === -1) p.sent = true; });
          return 'ok';
        });
    }
    return Promise.all([step, bytes]).then(function (results) {
      var verdict = results[0], data = results[1];
      if (verdict !== 'ok') return verdict;
      var pending = unsent(entry);
      return pending.reduce(function (chain, photo, index) {
        return chain.then(function (v) {
          if (v !== 'ok') return v;
          if (!data[photo.id]) {  // delivered meanwhile by another tab, or really gone from the phone
            return get(entry.id).then(function (still) {
              return still ? settle(entry, 'rejected', { status: 0, json: { message: MISSING } }, photo) : 'gone';
            });
          }
          var progress = options.onProgress && function (loaded, total) { options.onProgress(entry, index, pending.length, loaded, total); };
          return send('PUT', '/api/v1/observations/' + entry.id + '/photos/' + photo.id, data[photo.id], photo.type, auth.token, progress, photoHeaders(photo))
            .then(function (answer) {
              var v2 = judge(answer, photo.id);
              if (v2 !== 'ok') return settle(entry, v2, answer, photo);
              photo.sent = true;
              data[photo.id] = null;
              return 'ok';
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
      return save(entry).then(function () { return verdict; });
    }
    // Transient: keep what the server confirmed so far (and free those photos' bytes).
    return (entry.observation_sent ? save(entry) : Promise.resolve()).then(function () { return verdict; });
  }

  function backoff(entry) {
    entry.attempts += 1;
    var delay = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * Math.pow(2, entry.attempts - 1));
    entry.next_attempt_at = Date.now() + delay * (0.75 + Math.random() * 0.5);
    return save(entry);
  }

  function runReplay(options) {
    var summary = { sent: 0, retry: false, login: false, offline: false };
    var removals = [];
    return all().then(function (entries) {
      var queue = entries.filter(function (e) { return e.state === 'waiting'; });
      if (!queue.length) return summary;
      var auth = {};
      var readAhead = function (i) {
        if (i >= queue.length) return null;
        var read = photoBytes(unsent(queue[i]).map(function (p) { return p.id; }));
        read.catch(function () { /* reported to whoever uses it */ });
        return read;
      };
      return fetchToken().then(function (token) {
        auth.token = token;
        var next = function (i, bytes) {
          if (i >= queue.length) return summary;
          var entry = queue[i];
          if (!options.force && entry.next_attempt_at > Date.now()) { summary.retry = true; return summary; }
          // The next entry's photos are read from storage while this one is on its way.
          var ahead = null;
          var mine = bytes.then(function (data) { ahead = readAhead(i + 1); return data; });
          return sendEntry(entry, auth, options, mine).then(function (verdict) {
            if (verdict === 'csrf') {
              return fetchToken().then(function (token) {
                auth.token = token;
                return sendEntry(entry, auth, options, readAhead(i));
              });
            }
            return verdict;
          }).then(function (verdict) {
            var following = function () { return next(i + 1, ahead || readAhead(i + 1)); };
            if (verdict === 'done') {
              summary.sent += 1;
              // Sending goes on while the entry is deleted (the two never touch the same rows);
              // a failed delete fails the replay at its end (the entry is sent again, harmlessly).
              var removal = remove(entry.id);
              removal.catch(function () { /* reported by Promise.all below */ });
              removals.push(removal);
              return following();
            }
            if (verdict === 'rejected' || verdict === 'conflict' || verdict === 'gone') return following();
            if (verdict === 'login') { summary.login = true; return summary; }
            // Transient: keep the order, try again later.
            summary.retry = true;
            return backoff(entry).then(function () { return summary; });
          });
        };
        return next(0, readAhead(0));
      }, function () {
        summary.retry = true;
        summary.offline = true;
        return summary;
      });
    }).then(function (result) {
      return Promise.all(removals).then(function () { return result; });
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
      return save(entry);
    });
  }

  function retry(id, changes) {
    return update(id, function (entry) {
      if (changes) Object.keys(changes).forEach(function (k) { entry.body[k] = changes[k]; });
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

  /* A 409 means the UUID holds other content on the server: keep ours as a new observation,
   * in one transaction (the old entry goes only if the new one is stored). */
  function resendAsNew(id) {
    return get(id).then(function (entry) {
      if (!entry) return null;
      var unsent = entry.photos.filter(function (p) { return !p.sent; });
      return Promise.all(unsent.map(function (p) { return photoData(p.id); })).then(function (datas) {
        var photos = [];
        unsent.forEach(function (p, i) {
          if (datas[i]) photos.push({ id: uuid(), name: p.name, type: p.type, data: datas[i], gps: p.gps, taken_at: p.taken_at });
        });
        var body = JSON.parse(JSON.stringify(entry.body));
        body.photos = photos.map(function (p) { return p.id; });
        var fresh = newEntry(uuid(), body, photos, entry.meta);
        return transact('readwrite', 'strict', function (entries, photoStore) {
          removeIn(entries, photoStore, id);
          addIn(entries, photoStore, fresh, photos);
        }).then(function () { changed(); return fresh; });
      });
    });
  }

  function discardPhoto(id, photoId) {
    return update(id, function (entry) {
      entry.photos.forEach(function (p) { if (p.id === photoId && !p.sent) { p.state = 'discarded'; p.sent = true; } });
      if (entry.state === 'rejected' && !entry.photos.some(function (p) { return p.state === 'rejected'; })) {
        entry.state = 'waiting'; entry.error = '';
      }
    });
  }

  // A crowd that gets its signal back together (a walk coming up from the metro, 300 phones
  // after a city's evening of walks) would send in the same instant, and the first of their
  // observations would wait for each other at the server. Sending when the signal returns
  // (the page's `online`, the worker's background `sync`), each phone first waits a random
  // moment of up to ONLINE_SPREAD_MS; the send button does not (bench/load.py --burst).
  var ONLINE_SPREAD_MS = 3000;
  function spread() {
    return new Promise(function (resolve) { setTimeout(resolve, Math.random() * ONLINE_SPREAD_MS); });
  }

  global.FieldwalkOutbox = {
    add: add, all: all, get: get, photoData: photoData, remove: remove, counts: counts, replay: replay, retry: retry,
    resendAsNew: resendAsNew, discardPhoto: discardPhoto, uuid: uuid, spread: spread,
    onChange: function (fn) { listeners.push(fn); },
    judge: judge
  };
})(typeof self !== 'undefined' ? self : this);
