/* fieldwalk service worker {{ version }}.
 * Small named strategies that always return a Response: the shell cache-first, pages
 * network-first with the offline page as fallback, htmx and API requests network-only.
 * The outbox (IndexedDB) is never touched on upgrade: it belongs to the person, not to a version. */
'use strict';
const VERSION = '{{ version }}';
const SHELL_CACHE = 'fieldwalk-shell-' + VERSION;
const PAGE_CACHE = 'fieldwalk-pages-' + VERSION;
const PHOTO_CACHE = 'fieldwalk-photos-v1';
const KEEP = [SHELL_CACHE, PAGE_CACHE, PHOTO_CACHE];
const SHELL = {{ shell|safe }};

importScripts('{{ outbox_url }}');

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL)));
  // No skipWaiting here: the page asks the person first, so nobody is reloaded mid-form.
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('fieldwalk-') && !KEEP.includes(k)).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener('message', (event) => {
  if (!event.data) return;
  if (event.data.type === 'SKIP_WAITING') self.skipWaiting();
  // A page opened before this worker took over asks to be kept for offline use too.
  if (event.data.type === 'KEEP_PAGE') event.waitUntil(keepPage(event.data.url));
});

async function keepPage(url) {
  const target = new URL(url, self.location.origin);
  if (target.origin !== self.location.origin) return;
  try {
    const response = await fetch(target.href, { credentials: 'same-origin' });
    if (response.ok && !response.redirected) await (await caches.open(PAGE_CACHE)).put(target.href, response);
  } catch (error) { /* offline: it will be kept on the next visit */ }
}

function offlineResponse() {
  return new Response('', { status: 503, statusText: 'Offline' });
}

async function cacheFirst(request, cacheName) {
  const cached = await caches.match(request);
  if (cached) return cached;
  try {
    const response = await fetch(request);
    // A no-store answer (a photo's stand-in while its faces are being blurred) is not kept.
    const keep = response.ok && !/no-store/.test(response.headers.get('Cache-Control') || '');
    if (keep) (await caches.open(cacheName)).put(request, response.clone());
    return response;
  } catch (error) {
    return offlineResponse();
  }
}

async function networkFirstPage(request) {
  const cache = await caches.open(PAGE_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && response.type === 'basic' && !response.redirected) cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request, { ignoreVary: true });
    if (cached) return cached;
    return (await caches.match('/offline', { ignoreVary: true })) || offlineResponse();
  }
}

async function networkOnly(request) {
  try {
    return await fetch(request);
  } catch (error) {
    return offlineResponse();
  }
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (request.headers.get('HX-Request')) return event.respondWith(networkOnly(request));
  if (url.pathname.startsWith('/static/')) return event.respondWith(cacheFirst(request, SHELL_CACHE));
  if (url.pathname.startsWith('/photos/')) return event.respondWith(cacheFirst(request, PHOTO_CACHE));
  if (url.pathname.startsWith('/api/')) return event.respondWith(networkOnly(request));
  if (request.mode === 'navigate') return event.respondWith(networkFirstPage(request));
});

// Background Sync: the browser wakes the worker when the network is back.
self.addEventListener('sync', (event) => {
  if (event.tag !== 'fieldwalk-outbox') return;
  // Rejecting makes the browser retry later, with its own back-off.
  event.waitUntil(self.FieldwalkOutbox.spread().then(() => self.FieldwalkOutbox.replay({ from: 'sync' })).then((result) => {
    if (result.retry) throw new Error('outbox: will retry');
  }));
});
