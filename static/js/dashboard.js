// The overview: after an HTMX rearrangement, keep the keyboard where it was (the moved
// widget's button, the next widget after a removal), and let widgets be dragged into a new
// order. (Plotly, the first time a chart widget is added, is loaded by app.js.)
//
// Dragging uses pointer events (one code path for mouse, pen and touch; no library): press a
// widget's handle, move, and the widget takes the place of the one under the pointer; on
// release the new order goes to the layout endpoint (the JSON one; the Up/Down buttons post
// one move each to theirs, both save the same DashboardLayout) and the overview is re-rendered
// from the server's answer. Escape, or a refused save, puts the widgets back.
(function () {
  "use strict";

  function focusAfterSwap(root) {
    var wanted = root.getAttribute("data-focus");
    if (!wanted) return;
    var el = document.getElementById(wanted);
    if (!el) {
      // a widget moved to the top or bottom loses that button: take its other one, then the widget
      var m = /^move-(up|down)-(\d+)$/.exec(wanted);
      if (m) el = document.getElementById("move-" + (m[1] === "up" ? "down" : "up") + "-" + m[2]) ||
        document.getElementById("widget-" + m[2]);
    }
    if (el) el.focus();
  }

  // ------------------------------------------------------------------ drag and drop
  var drag = null;  // {item, list, pointerId, order (before), handle}

  function items(list) {
    return Array.prototype.slice.call(list.querySelectorAll(":scope > li[data-widget]"));
  }

  function orderOf(list) {
    return items(list).map(function (li) { return li.getAttribute("data-widget"); });
  }

  function widgetOf(key) {
    var parts = key.split(":");
    return parts.length > 1 ? { type: parts[0], id: Number(parts[1]) } : { type: parts[0] };
  }

  function announce(text) {
    var status = document.getElementById("drag-status");
    if (status) status.textContent = text;
  }

  function labelOf(li) {
    var h = li.querySelector("h3");
    return h ? h.textContent.trim() : "widget";
  }

  function restore(list, order) {
    var byKey = {};
    items(list).forEach(function (li) { byKey[li.getAttribute("data-widget")] = li; });
    order.forEach(function (key) { if (byKey[key]) list.appendChild(byKey[key]); });
  }

  function endDrag() {
    if (!drag) return null;
    var d = drag;
    drag = null;
    d.item.removeAttribute("data-dragging");
    d.item.style.opacity = "";
    d.item.style.outline = "";
    document.body.style.userSelect = "";
    if (d.handle.hasPointerCapture && d.handle.hasPointerCapture(d.pointerId)) {
      d.handle.releasePointerCapture(d.pointerId);
    }
    return d;
  }

  function onPointerDown(event) {
    var handle = event.target.closest && event.target.closest("[data-drag-handle]");
    if (!handle || drag || (event.pointerType === "mouse" && event.button !== 0)) return;
    var item = handle.closest("li[data-widget]");
    var list = item && item.parentElement;
    if (!list || list.id !== "widgets") return;
    event.preventDefault();
    drag = { item: item, list: list, pointerId: event.pointerId, order: orderOf(list), handle: handle };
    handle.setPointerCapture(event.pointerId);
    item.setAttribute("data-dragging", "true");
    item.style.opacity = "0.6";
    item.style.outline = "2px dashed #6366f1";
    document.body.style.userSelect = "none";
    announce("Moving " + labelOf(item) + ": release to drop it, Escape to cancel.");
  }

  function onPointerMove(event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    event.preventDefault();
    // near the window's top or bottom edge the page scrolls (a phone shows two widgets at most)
    var edge = 48;
    if (event.clientY < edge) window.scrollBy(0, -12);
    else if (event.clientY > window.innerHeight - edge) window.scrollBy(0, 12);
    var under = document.elementFromPoint(event.clientX, event.clientY);
    var over = under && under.closest("#widgets > li[data-widget]");
    if (!over || over === drag.item || over.parentElement !== drag.list) return;
    var all = items(drag.list);
    if (all.indexOf(drag.item) < all.indexOf(over)) drag.list.insertBefore(drag.item, over.nextSibling);
    else drag.list.insertBefore(drag.item, over);
  }

  function save(list, before, moved) {
    var order = orderOf(list);
    if (order.join("|") === before.join("|")) { announce(""); return; }
    var root = document.getElementById("overview");
    var csrf = root && root.querySelector("[name=csrfmiddlewaretoken]");
    var at = order.indexOf(moved);
    fetch(list.getAttribute("data-layout-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": csrf ? csrf.value : "",
        "HX-Request": "true"
      },
      body: JSON.stringify({ widgets: order.map(widgetOf) })
    }).then(function (response) {
      return response.text().then(function (text) {
        if (!response.ok) throw new Error(text || ("HTTP " + response.status));
        return text;
      });
    }).then(function (html) {
      var current = document.getElementById("overview");
      if (!current) return;
      window.htmx.swap(current, html, { swapStyle: "outerHTML" }, {
        afterSettleCallback: function () {
          var widget = document.getElementById("widget-" + at);
          if (widget) widget.focus();
          announce("Moved to position " + (at + 1) + " of " + order.length + ".");
        }
      });
    }).catch(function (err) {
      restore(list, before);
      announce("Not moved: " + err.message);
    });
  }

  function onPointerUp(event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    var d = endDrag();
    save(d.list, d.order, d.item.getAttribute("data-widget"));
  }

  function onPointerCancel(event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    var d = endDrag();
    restore(d.list, d.order);
    announce("");
  }

  function onKeyDown(event) {
    if (!drag || event.key !== "Escape") return;
    var d = endDrag();
    restore(d.list, d.order);
    announce("Move cancelled.");
  }

  function enableHandles(root) {
    root.querySelectorAll("[data-drag-handle]").forEach(function (handle) {
      handle.style.display = "";
      handle.style.touchAction = "none";  // the finger drags the widget, not the page
    });
  }

  document.addEventListener("pointerdown", onPointerDown);
  document.addEventListener("pointermove", onPointerMove, { passive: false });
  document.addEventListener("pointerup", onPointerUp);
  document.addEventListener("pointercancel", onPointerCancel);
  document.addEventListener("keydown", onKeyDown);

  function init() {
    var root = document.getElementById("overview");
    if (root) enableHandles(root);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();

  document.addEventListener("htmx:afterSettle", function () {
    var root = document.getElementById("overview");
    if (!root) return;
    enableHandles(root);
    focusAfterSwap(root);  // app.js loads Plotly on this same event when a chart arrived
  });
})();
