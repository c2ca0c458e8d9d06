// The offline queue of analysts' verdicts, shared by the pages (feedback.js) and the service
// worker (sw.js imports it): verdicts wait in IndexedDB until a sync endpoint has them.
// Each carries the UUID made when the analyst pressed the button, so sending it twice (the
// page and Background Sync racing, a reply lost on the way back) changes nothing twice.
(function (root) {
  "use strict";

  var DB = "pynomaly-verdicts";
  var STORE = "queue";
  var TAG = "pynomaly-verdicts";

  function open() {
    return new Promise(function (resolve, reject) {
      var req = root.indexedDB.open(DB, 1);
      req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: "uuid" }); };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function withStore(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var result = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(result && "result" in result ? result.result : undefined); };
        tx.onerror = tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function add(item) { return withStore("readwrite", function (s) { s.put(item); }); }
  function all() {
    return withStore("readonly", function (s) { return s.getAll(); }).then(function (items) {
      return (items || []).sort(function (a, b) { return a.seq - b.seq; });
    });
  }
  function remove(uuids) {
    return withStore("readwrite", function (s) { uuids.forEach(function (u) { s.delete(u); }); });
  }
  function count() { return all().then(function (items) { return items.length; }); }

  function post(url, items, csrf) {
    var body = JSON.stringify({
      items: items.map(function (i) {
        return { uuid: i.uuid, row: i.row, verdict: i.verdict, note: i.note, made_at: i.made_at };
      }),
    });
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf || items[0].csrf },
      body: body,
    }).then(function (response) {
      // 2xx: every item was handled (applied, duplicate, superseded or refused with a reason).
      // 400: the batch itself is malformed and never will be better. Anything else: keep it.
      if (response.ok || response.status === 400) {
        return remove(items.map(function (i) { return i.uuid; })).then(function () {
          return response.ok ? response.json() : { results: [] };
        });
      }
      throw new Error("verdict sync answered " + response.status);
    });
  }

  var running = null;
  // Send every queued verdict to its sync URL; resolves to the server's results.
  // ``csrf``: the page's current token (a fresh sign-in rotates it); the SW uses the stored one.
  function flush(csrf) {
    if (running) return running;
    running = all().then(function (items) {
      var groups = {};
      items.forEach(function (i) { (groups[i.syncUrl] = groups[i.syncUrl] || []).push(i); });
      return Promise.all(Object.keys(groups).map(function (url) {
        return post(url, groups[url], csrf);
      }));
    }).then(function (answers) {
      running = null;
      return answers;
    }, function (err) {
      running = null;
      throw err;
    });
    return running;
  }

  function uuid() {
    if (root.crypto && root.crypto.randomUUID) return root.crypto.randomUUID();
    var b = root.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  root.PynomalyVerdicts = { TAG: TAG, add: add, all: all, count: count, remove: remove, flush: flush, uuid: uuid };
})(self);
