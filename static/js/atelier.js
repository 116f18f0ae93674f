// Atelier's progressive enhancement: local times, sortable tables, live state, uploads with progress.
// Plain JavaScript, no dependencies, served from static files (the site works offline).
(function () {
  "use strict";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // <time datetime="ISO" data-local> -> the visitor's time zone.
  function localTimes(root) {
    // dateStyle/timeStyle cannot be combined with timeZoneName: spell the fields out.
    const format = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    });
    for (const el of (root || document).querySelectorAll("time[data-local]")) {
      const when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) { el.textContent = format.format(when); el.title = el.getAttribute("datetime"); }
    }
    // <time datetime="ISO" data-relative> -> "5m", "3h", "2d" (as the server wrote it, kept current), exact time on hover.
    const units = [["y", 31536000], ["w", 604800], ["d", 86400], ["h", 3600], ["m", 60]];
    for (const el of (root || document).querySelectorAll("time[data-relative]")) {
      const when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) continue;
      const seconds = Math.max(0, Math.floor((Date.now() - when.getTime()) / 1000));
      const unit = units.find(([, size]) => seconds >= size);
      el.textContent = unit ? Math.floor(seconds / unit[1]) + unit[0] : "now";
      el.title = format.format(when);
    }
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    for (const el of document.querySelectorAll("[data-visitor-zone]")) el.textContent = zone;
  }

  // <form data-confirm="what happens, what cannot be undone">: ask before posting.
  function confirmForms() {
    for (const form of document.querySelectorAll("form[data-confirm]")) {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    }
  }

  // <table data-sortable>: click a <th data-sort="number|text"> button to sort.
  function sortableTables() {
    for (const table of document.querySelectorAll("table[data-sortable]")) {
      const headers = [...table.querySelectorAll("thead th")];
      headers.forEach((th, index) => {
        const kind = th.dataset.sort;
        if (!kind) return;
        const button = document.createElement("button");
        button.type = "button"; button.className = "sort-button"; button.textContent = th.textContent.trim();
        th.textContent = ""; th.appendChild(button); th.setAttribute("aria-sort", th.getAttribute("aria-sort") || "none");
        button.addEventListener("click", () => {
          const ascending = th.getAttribute("aria-sort") !== "ascending";
          headers.forEach((other) => other.dataset.sort && other.setAttribute("aria-sort", "none"));
          th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
          const body = table.tBodies[0];
          const rows = [...body.rows];
          const key = (row) => {
            const cell = row.cells[index];
            const raw = cell ? (cell.dataset.value ?? cell.textContent.trim()) : "";
            if (kind === "number") { const n = parseFloat(raw); return isNaN(n) ? Infinity : n; }
            return raw.toLowerCase();
          };
          rows.sort((a, b) => { const ka = key(a), kb = key(b); return (ka < kb ? -1 : ka > kb ? 1 : 0) * (ascending ? 1 : -1); });
          rows.forEach((row) => body.appendChild(row));
        });
      });
    }
  }

  // Live state of submissions: elements with data-live-submission="API URL" are refreshed.
  const STATE_LABELS = { queued: "Queued", validating: "Validating", generating: "Generating", scoring: "Scoring", scored: "Scored", failed: "Failed", cancelled: "Cancelled" };
  const FINISHED = new Set(["scored", "failed", "cancelled"]);
  function describeState(data) {
    let text = STATE_LABELS[data.state] || data.state;
    if (data.state === "queued" && data.queue_position) text += ` (position ${data.queue_position} in the queue)`;
    if (data.state === "generating" && data.progress && data.progress.total) text += ` ${data.progress.done} of ${data.progress.total} images`;
    return text;
  }
  function liveSubmissions() {
    const nodes = [...document.querySelectorAll("[data-live-submission]")];
    if (!nodes.length) return;
    let reloadWhenDone = false;
    async function poll() {
      let pending = 0;
      for (const node of nodes) {
        if (FINISHED.has(node.dataset.state)) continue;
        pending += 1;
        try {
          const response = await fetch(node.dataset.liveSubmission, { headers: { Accept: "application/json" }, credentials: "same-origin" });
          if (!response.ok) continue;
          const data = await response.json();
          node.dataset.state = data.state;
          const label = node.querySelector("[data-state-label]");
          if (label) label.textContent = describeState(data);
          const badge = node.querySelector("[data-state-badge]");
          if (badge) badge.className = "badge state-" + data.state;
          if (FINISHED.has(data.state) && node.dataset.reloadOnFinish !== undefined) reloadWhenDone = true;
        } catch (error) { /* the next poll retries */ }
      }
      if (reloadWhenDone) { refreshContent(); return; }
      if (pending) window.setTimeout(poll, 2000);
    }
    window.setTimeout(poll, 1000);
  }

  // Re-render the page's main content in place (no navigation): scores and outputs appear when a
  // submission finishes, and the enhancements run again on the new content.
  async function refreshContent() {
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const html = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = html.getElementById("content");
      const current = document.getElementById("content");
      if (fresh && current) {
        current.innerHTML = fresh.innerHTML;
        for (const enhance of [localTimes, sortableTables, liveSubmissions, apiButtons, confirmForms]) {
          try { enhance(); } catch (error) { console.error("atelier.js:", enhance.name, error); }
        }
      }
    } catch (error) { /* keep what is shown */ }
  }

  // Upload forms: <form data-upload-api="URL" data-max-bytes="N">: client-side size check, progress bar, redirect.
  function uploadForms() {
    for (const form of document.querySelectorAll("form[data-upload-api]")) {
      const input = form.querySelector("input[type=file]");
      const drop = form.querySelector("[data-dropzone]");
      const progress = form.querySelector("progress");
      const status = form.querySelector("[data-upload-status]");
      const maxBytes = parseInt(form.dataset.maxBytes || "0", 10);
      const say = (text, bad) => { status.textContent = text; status.classList.toggle("field-error", !!bad); };
      const check = () => {
        const file = input.files[0];
        if (!file) { say(""); return true; }
        if (maxBytes && file.size > maxBytes) {
          say(`${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the limit of this phase is ${(maxBytes / 1048576).toFixed(0)} MB. Export a smaller model or use fewer parameters.`, true);
          return false;
        }
        say(`${file.name}, ${(file.size / 1048576).toFixed(2)} MB, ready to upload.`);
        return true;
      };
      input.addEventListener("change", check);
      if (drop) {
        ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add("dragging"); }));
        ["dragleave", "drop"].forEach((type) => drop.addEventListener(type, () => drop.classList.remove("dragging")));
        drop.addEventListener("drop", (event) => {
          event.preventDefault();
          if (event.dataTransfer.files.length) { input.files = event.dataTransfer.files; check(); }
        });
      }
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        if (!input.files.length) { say("Choose a file first.", true); return; }
        if (!check()) return;
        const data = new FormData(form);
        data.delete("csrfmiddlewaretoken");
        const request = new XMLHttpRequest();
        request.open("POST", form.dataset.uploadApi);
        request.setRequestHeader("X-CSRFToken", csrfToken());
        request.setRequestHeader("Accept", "application/json");
        progress.hidden = false; progress.value = 0;
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        request.upload.addEventListener("progress", (e) => {
          if (e.lengthComputable) { progress.value = Math.round((e.loaded / e.total) * 100); say(`Uploading… ${progress.value}%`); }
        });
        request.addEventListener("load", () => {
          let body = {};
          try { body = JSON.parse(request.responseText); } catch (error) { body = {}; }
          if (request.status >= 200 && request.status < 300) {
            say("Uploaded. Opening the submission…");
            const target = form.dataset.redirect ? form.dataset.redirect.replace("__id__", String(body.id)) : (body.page_url || "/");
            window.location.assign(target);
          } else {
            button.disabled = false; progress.hidden = true;
            say(body.error ? body.error.message : `The upload failed (HTTP ${request.status}).`, true);
          }
        });
        request.addEventListener("error", () => { button.disabled = false; progress.hidden = true; say("The upload failed: the server could not be reached. Try again.", true); });
        request.send(data);
      });
    }
  }

  // Buttons that POST JSON to the API and reload: <button data-api-post="URL" data-api-body='{"...":...}'>.
  function apiButtons() {
    for (const button of document.querySelectorAll("[data-api-post]")) {
      button.addEventListener("click", async () => {
        button.disabled = true;
        const response = await fetch(button.dataset.apiPost, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
          body: button.dataset.apiBody || "{}",
        });
        if (response.ok) { window.location.reload(); return; }
        button.disabled = false;
        let message = `HTTP ${response.status}`;
        try { const body = await response.json(); if (body.error) message = body.error.message; } catch (error) { /* keep the status */ }
        const target = document.getElementById(button.dataset.errorTarget || "") || button.parentElement;
        let note = target.querySelector(".field-error");
        if (!note) { note = document.createElement("p"); note.className = "field-error"; note.setAttribute("role", "alert"); target.appendChild(note); }
        note.textContent = message;
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    // Each enhancement is independent: one failing must not take the others down.
    for (const enhance of [localTimes, sortableTables, liveSubmissions, uploadForms, apiButtons, confirmForms]) {
      try { enhance(); } catch (error) { console.error("atelier.js:", enhance.name, error); }
    }
  });
})();
