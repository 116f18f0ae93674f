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

  // A drop zone (<div data-dropzone>) around a file input: a dropped file becomes the input's, then ``check`` runs.
  function dropzone(drop, input, check) {
    if (!drop) return;
    ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add("dragging"); }));
    ["dragleave", "drop"].forEach((type) => drop.addEventListener(type, () => drop.classList.remove("dragging")));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer.files.length) { input.files = event.dataTransfer.files; check(); }
    });
  }

  const megabytes = (bytes) => (bytes / 1048576).toFixed(bytes < 10485760 ? 2 : 1);

  // An upload form's status line ([data-upload-status]) as a function: say(text, bad), bad shown as an error.
  function statusLine(form) {
    const status = form.querySelector("[data-upload-status]");
    return (text, bad) => { status.textContent = text; status.classList.toggle("field-error", !!bad); };
  }

  // Why the form refuses a file over its data-max-bytes (the phase's limit), or "" when it fits.
  function overLimit(form, file) {
    const maxBytes = parseInt(form.dataset.maxBytes || "0", 10);
    if (!maxBytes || file.size <= maxBytes) return "";
    return `${file.name} is ${megabytes(file.size)} MB; the limit of this phase is ${(maxBytes / 1048576).toFixed(0)} MB. Export a smaller model or use fewer parameters.`;
  }

  // One-request upload forms (the organizer's image sets): <form data-upload-api="URL" data-max-bytes="N">
  // without data-session-api: client-side size check, progress bar, redirect.
  function oneRequestUploadForms() {
    for (const form of document.querySelectorAll("form[data-upload-api]:not([data-session-api])")) {
      const input = form.querySelector("input[type=file]");
      const drop = form.querySelector("[data-dropzone]");
      const progress = form.querySelector("progress");
      const say = statusLine(form);
      const check = () => {
        const file = input.files[0];
        if (!file) { say(""); return true; }
        const refusal = overLimit(form, file);
        if (refusal) { say(refusal, true); return false; }
        say(`${file.name}, ${(file.size / 1048576).toFixed(2)} MB, ready to upload.`);
        return true;
      };
      input.addEventListener("change", check);
      dropzone(drop, input, check);
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

  // SHA-256 over a stream of pieces (FIPS 180-4), so a file of any size is hashed without holding it
  // whole in memory (crypto.subtle.digest only takes one buffer).
  const SHA256_K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  class Sha256 {
    constructor() {
      this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
      this.pending = new Uint8Array(64); this.pendingLength = 0; this.length = 0; this.w = new Uint32Array(64);
    }
    update(data) {
      let i = 0;
      this.length += data.length;
      if (this.pendingLength) {
        const take = Math.min(64 - this.pendingLength, data.length);
        this.pending.set(data.subarray(0, take), this.pendingLength);
        this.pendingLength += take; i = take;
        if (this.pendingLength === 64) { this.block(this.pending, 0); this.pendingLength = 0; }
      }
      for (; i + 64 <= data.length; i += 64) this.block(data, i);
      if (i < data.length) { this.pending.set(data.subarray(i), 0); this.pendingLength = data.length - i; }
    }
    block(d, o) {
      const w = this.w, h = this.h;
      for (let t = 0; t < 16; t++) w[t] = (d[o + 4 * t] << 24) | (d[o + 4 * t + 1] << 16) | (d[o + 4 * t + 2] << 8) | d[o + 4 * t + 3];
      for (let t = 16; t < 64; t++) {
        const x = w[t - 15], y = w[t - 2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      let a = h[0], b = h[1], c = h[2], e = h[4], f = h[5], g = h[6], k = h[7], dd = h[3];
      for (let t = 0; t < 64; t++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const t1 = (k + S1 + ((e & f) ^ (~e & g)) + SHA256_K[t] + w[t]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g; g = f; f = e; e = (dd + t1) | 0; dd = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] += a; h[1] += b; h[2] += c; h[3] += dd; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
    }
    hex() {
      const bits = this.length * 8;
      const tail = new Uint8Array(((this.pendingLength + 8) >> 6 << 6) + 64 - this.pendingLength);
      tail[0] = 0x80;
      const view = new DataView(tail.buffer);
      view.setUint32(tail.length - 8, Math.floor(bits / 0x100000000));
      view.setUint32(tail.length - 4, bits >>> 0);
      const length = this.length;
      this.update(tail);
      this.length = length;
      return Array.from(this.h, (word) => word.toString(16).padStart(8, "0")).join("");
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const RETRY_DELAYS = [1, 2, 4, 8, 15, 30];
  const VERIFY_POLLS = [0.5, 1, 2, 3, 5];
  const KEEP_SESSION = new Set(["quota_exceeded", "too_many_running", "phase_closed"]);
  // One XMLHttpRequest as a promise: resolves {status, body} for any answer, rejects only when no answer came.
  function send(method, url, { body = null, headers = {}, onProgress = null, credentials = true } = {}) {
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open(method, url);
      if (credentials) {
        request.setRequestHeader("X-CSRFToken", csrfToken());
        request.setRequestHeader("Accept", "application/json");
      }
      for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
      if (onProgress) request.upload.addEventListener("progress", (event) => onProgress(event.loaded));
      request.addEventListener("load", () => {
        let parsed = {};
        try { parsed = JSON.parse(request.responseText || "{}"); } catch (error) { parsed = {}; }
        resolve({ status: request.status, body: parsed });
      });
      for (const type of ["error", "timeout", "abort"]) request.addEventListener(type, () => reject(new Error(`network ${type}`)));
      request.send(body);
    });
  }

  class ApiRefusal extends Error {
    constructor(answer) {
      super(answer.body.error ? answer.body.error.message : `The server answered HTTP ${answer.status}.`);
      this.code = answer.body.error ? answer.body.error.code : `http_${answer.status}`;
      this.answer = answer;
    }
  }

  // Upload forms: <form data-session-api="URL" data-max-bytes="N">: a resumable upload session (decision 0012):
  // the file's SHA-256, then chunks at offsets (or parts to the bucket), resumed after a network error and,
  // when the same file is chosen again, after a reload; progress with a time estimate; then the submission page.
  function uploadForms() {
    for (const form of document.querySelectorAll("form[data-session-api]")) {
      const input = form.querySelector("input[type=file][name=file]");
      const configInput = form.querySelector("input[type=file][name=config]");
      const drop = form.querySelector("[data-dropzone]");
      const progress = form.querySelector("progress");
      const button = form.querySelector("button[type=submit]");
      const say = statusLine(form);
      const storageKey = (file) => `atelier-upload:${form.dataset.sessionApi}:${file.name}:${file.size}:${file.lastModified}`;
      const remembered = (file) => { try { return JSON.parse(localStorage.getItem(storageKey(file)) || "null"); } catch (error) { return null; } };
      const check = () => {
        const file = input.files[0];
        if (!file) { say(""); return true; }
        const refusal = overLimit(form, file);
        if (refusal) { say(refusal, true); return false; }
        const saved = remembered(file);
        say(saved ? `${file.name}: an interrupted upload of this file was found; it continues where it stopped.` : `${file.name}, ${megabytes(file.size)} MB, ready to upload.`);
        return true;
      };
      if (input.disabled) continue;  // the page says why no file can be accepted now
      input.addEventListener("change", check);
      dropzone(drop, input, check);

      // Retry a network failure with growing waits; an answer (even an error) ends the retries.
      async function patiently(call) {
        for (let attempt = 0; ; attempt++) {
          try { return await call(); } catch (error) {
            if (error instanceof ApiRefusal) throw error;
            const wait = RETRY_DELAYS[Math.min(attempt, RETRY_DELAYS.length - 1)];
            say(`The connection was lost; trying again in ${wait} s. The upload continues where it stopped.`, true);
            await sleep(wait * 1000);
          }
        }
      }
      const ok = (answer, ...statuses) => { if (!statuses.includes(answer.status)) throw new ApiRefusal(answer); return answer.body; };

      async function sha256Of(file) {
        const hash = new Sha256();
        const piece = 4 * 1048576;
        for (let start = 0; start < file.size; start += piece) {
          hash.update(new Uint8Array(await file.slice(start, start + piece).arrayBuffer()));
          say(`Checking the file… ${Math.floor((100 * Math.min(start + piece, file.size)) / file.size)}%`);
        }
        return hash.hex();
      }

      // S3: the server verifies the file in a task; poll the session until it is completed (the submission) or failed.
      async function verified(key, session) {
        say("Checking the uploaded file…");
        for (let polls = 0; session.state === "verifying"; polls++) {
          await sleep(VERIFY_POLLS[Math.min(polls, VERIFY_POLLS.length - 1)] * 1000);
          session = ok(await patiently(() => send("GET", session.url)), 200);
        }
        localStorage.removeItem(key);
        if (session.state === "completed" && session.submission !== null) return { id: session.submission };
        throw new ApiRefusal({ status: session.error ? session.error.status : 409, body: { error: session.error } });
      }

      async function upload(file) {
        const key = storageKey(file);
        let session = null;
        const saved = remembered(file);
        if (saved) {
          const answer = await patiently(() => send("GET", saved.url));
          if (answer.status === 200 && answer.body.state === "open") session = answer.body;
          else if (answer.status === 200 && answer.body.state === "verifying") return verified(key, answer.body);
          else localStorage.removeItem(key);
        }
        if (!session) {
          const body = { filename: file.name, size: file.size, sha256: await sha256Of(file), description: form.elements.description.value };
          if (form.elements.phase && form.elements.phase.value) body.phase = form.elements.phase.value;
          if (configInput && configInput.files.length) {
            try { body.config = JSON.parse(await configInput.files[0].text()); } catch (error) { throw new Error(`${configInput.files[0].name} is not JSON: ${error.message}`); }
          }
          session = ok(await patiently(() => send("POST", form.dataset.sessionApi, { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } })), 201);
          localStorage.setItem(key, JSON.stringify({ id: session.id, url: session.url, sha256: session.sha256 }));
        }
        const started = Date.now(), startOffset = session.offset;
        const show = (sent) => {
          progress.value = Math.round((100 * sent) / file.size);
          const rate = (sent - startOffset) / Math.max((Date.now() - started) / 1000, 0.001);
          const left = rate > 0 ? Math.ceil((file.size - sent) / rate) : null;
          const estimate = left === null || sent === startOffset ? "" : left < 90 ? `, about ${left} s left` : `, about ${Math.ceil(left / 60)} min left`;
          say(`Uploading… ${progress.value}% (${megabytes(sent)} of ${megabytes(file.size)} MB${estimate})`);
        };
        show(session.offset);
        if (session.backend === "s3") {
          const size = session.chunk_size, count = Math.max(1, Math.ceil(file.size / size));
          const stored = new Set(session.parts.map((part) => part.part_number));
          let done = session.parts.reduce((sum, part) => sum + part.size, 0);
          const missing = [];
          for (let number = 1; number <= count; number++) if (!stored.has(number)) missing.push(number);
          for (let index = 0; index < missing.length; index += 50) {
            const urls = ok(await patiently(() => send("POST", `${session.url}parts/`, { body: JSON.stringify({ part_numbers: missing.slice(index, index + 50) }), headers: { "Content-Type": "application/json" } })), 200);
            for (const part of urls) {
              const blob = file.slice((part.part_number - 1) * size, (part.part_number - 1) * size + part.size);
              await patiently(async () => ok(await send("PUT", part.url, { body: blob, credentials: false, onProgress: (loaded) => show(done + loaded) }), 200));
              done += part.size; show(done);
            }
          }
        } else {
          let offset = session.offset;
          for (let failures = 0; offset < file.size;) {
            const end = Math.min(offset + session.chunk_size, file.size);
            try {
              const answer = await send("PATCH", session.url, {
                body: file.slice(offset, end),
                headers: { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
                onProgress: (loaded) => show(offset + loaded),
              });
              if (answer.status === 409 && answer.body.error && Number.isInteger(answer.body.error.offset)) { offset = answer.body.error.offset; continue; }
              offset = ok(answer, 200).offset; failures = 0;
            } catch (error) {
              if (error instanceof ApiRefusal) throw error;
              const wait = RETRY_DELAYS[Math.min(failures++, RETRY_DELAYS.length - 1)];
              say(`The connection was lost; trying again in ${wait} s. The upload continues where it stopped.`, true);
              await sleep(wait * 1000);
              offset = ok(await patiently(() => send("GET", session.url)), 200).offset;  // what arrived is kept
            }
            show(offset);
          }
        }
        say("Checking the uploaded file…");
        let answer = await patiently(() => send("POST", `${session.url}complete/`));
        const state = answer.status === 409 && answer.body.error ? answer.body.error.state : null;
        if (state === "verifying" || state === "failed") answer = await patiently(() => send("GET", session.url));  // completed before
        if ((answer.status === 202 || answer.status === 200) && answer.body.id === session.id) return verified(key, answer.body);
        if (answer.status !== 201) {
          const refusal = new ApiRefusal(answer);
          if (!KEEP_SESSION.has(refusal.code)) localStorage.removeItem(key);
          throw refusal;
        }
        localStorage.removeItem(key);
        return answer.body;
      }

      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (!input.files.length) { say("Choose a file first.", true); return; }
        if (!check()) return;
        button.disabled = true; progress.hidden = false; progress.value = 0;
        try {
          const submission = await upload(input.files[0]);
          say("Uploaded. Opening the submission…");
          window.location.assign(form.dataset.redirect.replace("__id__", String(submission.id)));
        } catch (error) {
          button.disabled = false; progress.hidden = true;
          say(error.message || "The upload failed.", true);
        }
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
    for (const enhance of [localTimes, sortableTables, liveSubmissions, oneRequestUploadForms, uploadForms, apiButtons, confirmForms]) {
      try { enhance(); } catch (error) { console.error("atelier.js:", enhance.name, error); }
    }
  });
})();
