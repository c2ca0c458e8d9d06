// Upload form helpers: drag and drop, a size check before sending, upload progress.
// The form works without this script (plain multipart POST); the server checks everything again.
(function () {
  "use strict";

  function human(n) {
    var units = ["bytes", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + units[i];
  }

  function parts(form) {
    return {
      input: form.querySelector("input[type=file]"),
      info: form.querySelector("[data-file-info]"),
      error: form.querySelector("[data-client-error]"),
      progress: form.querySelector("[data-progress]"),
      button: form.querySelector("button[type=submit]"),
    };
  }

  function showError(form, message) {
    var p = parts(form);
    if (!p.error) return;
    p.error.innerHTML = "";
    if (message) {
      var li = document.createElement("li");
      li.textContent = message;
      p.error.appendChild(li);
    }
    p.error.hidden = !message;
  }

  // True when the chosen file may be sent; otherwise shows why not.
  function check(form) {
    var p = parts(form);
    var file = p.input && p.input.files && p.input.files[0];
    if (!file) { showError(form, ""); if (p.info) p.info.textContent = ""; return true; }
    var max = parseInt(p.input.getAttribute("data-max-bytes") || "0", 10);
    if (p.info) p.info.textContent = file.name + " · " + human(file.size);
    if (max && file.size > max) {
      showError(form, "The file is " + human(file.size) + "; the upload limit is " + human(max) + ".");
      return false;
    }
    if (file.size === 0) { showError(form, file.name + " is empty."); return false; }
    showError(form, "");
    var name = form.querySelector("input[name=name]");
    if (name && !name.value) name.placeholder = file.name.replace(/\.[^.]+$/, "") || file.name;
    return true;
  }

  function formOf(el) { return el && el.closest ? el.closest("[data-upload-form]") : null; }

  document.addEventListener("change", function (e) {
    var form = formOf(e.target);
    if (form && e.target.type === "file") check(form);
  });

  // Capture phase: runs before htmx's own submit handler on the form, and can stop it.
  document.addEventListener("submit", function (e) {
    var form = formOf(e.target);
    if (form && !check(form)) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);

  ["dragenter", "dragover"].forEach(function (type) {
    document.addEventListener(type, function (e) {
      var zone = e.target.closest && e.target.closest("[data-dropzone]");
      if (!zone) return;
      e.preventDefault();
      zone.setAttribute("data-over", "");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    document.addEventListener(type, function (e) {
      var zone = e.target.closest && e.target.closest("[data-dropzone]");
      if (!zone) return;
      zone.removeAttribute("data-over");
      if (type !== "drop") return;
      e.preventDefault();
      var input = zone.querySelector("input[type=file]");
      if (input && e.dataTransfer && e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  });

  document.addEventListener("htmx:xhr:progress", function (e) {
    var form = formOf(e.target);
    var p = form && parts(form).progress;
    if (!p || !e.detail.lengthComputable) return;
    p.classList.remove("hidden");
    p.value = Math.round((100 * e.detail.loaded) / e.detail.total);
  });

  // A refusal (400/413/422) from the view re-renders the form, and htmx swaps no 4xx by
  // itself; a 413 from the size guard in front of the view is a full error page: show its
  // message in the form instead of swapping the page in.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var form = formOf(e.detail.elt);
    var status = e.detail.xhr.status;
    if (!form || [400, 413, 422].indexOf(status) === -1) return;
    var html = e.detail.xhr.responseText || "";
    if (html.indexOf('id="upload-form"') !== -1) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
      return;
    }
    var doc = new DOMParser().parseFromString(html, "text/html");
    var msg = doc.getElementById("upload-error");
    showError(form, msg ? msg.textContent : "The file is larger than the upload limit.");
    var p = parts(form);
    if (p.progress) p.progress.classList.add("hidden");
  });
})();
