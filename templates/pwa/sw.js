{% load static pwa %}{% url 'offline' as offline_url %}// Pynomaly service worker, rendered by pynomaly_web.views.service_worker at /sw.js.
// Navigations go to the network first and fall back to the cached offline page; pages
// themselves are never cached (they hold one user's data and must not outlive sign-out).
// Static files are cache-first: in production their URLs carry a content hash.
"use strict";

const CACHE = "pynomaly-shell-{% shell_version shell %}";
const OFFLINE_URL = "{{ offline_url|escapejs }}";
const STATIC_PREFIX = "{% get_static_prefix as prefix %}{{ prefix|escapejs }}";
const SHELL = [OFFLINE_URL, ...{% shell_urls shell %}];

// Analysts' verdicts made offline (apps/feedback): the queue the pages fill, sent from here by
// Background Sync when the connection returns, even if the page was closed meanwhile.
importScripts("{% static 'js/verdict_queue.js' %}");
self.addEventListener("sync", (event) => {
  if (event.tag !== self.PynomalyVerdicts.TAG) return;
  event.waitUntil(
    self.PynomalyVerdicts.flush()
      .then(() => self.clients.matchAll({ type: "window" }))
      .then((clients) => clients.forEach((c) => c.postMessage({ type: "pynomaly-verdicts-synced" })))
  );
});

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      // cache: "reload" skips the HTTP cache so a new version gets fresh copies.
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((name) => name.startsWith("pynomaly-") && name !== CACHE)
             .map((name) => caches.delete(name))
      ))
      .then(() => self.clients.claim())
  );
});

async function networkFirstNavigation(request) {
  try {
    return await fetch(request);
  } catch (err) {
    const cache = await caches.open(CACHE);
    return (await cache.match(OFFLINE_URL)) || Response.error();
  }
}

async function cacheFirstStatic(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok && response.type === "basic") {
    cache.put(request, response.clone());
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(networkFirstNavigation(request));
  } else if (url.pathname.startsWith(STATIC_PREFIX)) {
    event.respondWith(cacheFirstStatic(request));
  }
});
