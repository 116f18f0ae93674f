// The vote page: one click (or key) per vote, the next pair already loaded.
// Plain JavaScript, no dependencies; talks to GET .../judging/pair/ and POST .../judging/votes/.
(function () {
  "use strict";
  const root = document.querySelector("[data-vote]");
  if (!root) return;
  const status = root.querySelector("[data-vote-status]");
  const counter = root.querySelector("[data-vote-count]");
  const buttons = [...root.querySelectorAll("[data-choice]")];
  const images = {};
  for (const img of root.querySelectorAll("img[data-side]")) images[img.dataset.side] = img;
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  let current = null;
  let next = null;
  let votes = 0;
  let busy = false;

  function say(text) { status.textContent = text; }
  function enable(on) { for (const button of buttons) button.disabled = !on; }

  async function errorText(response) {
    try { const body = await response.json(); return body.error.message; } catch (e) { return "The server answered " + response.status + "."; }
  }

  // A pair with its three images decoded, so that showing it is instant.
  async function fetchPair() {
    const response = await fetch(root.dataset.pairUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(await errorText(response));
    const pair = await response.json();
    pair.loaded = {};
    await Promise.all(["content", "left", "right"].map((side) => {
      const img = new Image();
      img.src = pair[side + "_url"];
      pair.loaded[side] = img.src;
      return img.decode().catch(() => undefined);
    }));
    return pair;
  }

  function show(pair) {
    current = pair;
    for (const side of ["content", "left", "right"]) images[side].src = pair.loaded[side];
    root.dataset.token = pair.token;
    enable(true);
    say("");
  }

  function prefetch() {
    next = fetchPair().catch((error) => { next = null; throw error; });
    next.catch(() => undefined);
  }

  async function advance() {
    try {
      const pair = await (next || fetchPair());
      show(pair);
      prefetch();
    } catch (error) {
      current = null;
      enable(false);
      say(error.message);
    }
  }

  async function vote(choice) {
    if (!current || busy) return;
    busy = true;
    const token = current.token;
    enable(false);
    say("Saving…");
    try {
      const response = await fetch(root.dataset.voteUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ token: token, choice: choice }),
      });
      if (!response.ok) {
        say(await errorText(response));
        if (response.status === 429) { busy = false; return; }
      } else {
        votes += 1;
        counter.textContent = String(votes);
      }
      await advance();
    } finally {
      busy = false;
    }
  }

  for (const button of buttons) button.addEventListener("click", () => vote(button.dataset.choice));
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const choice = { ArrowLeft: "left", ArrowRight: "right", ArrowDown: "equal", "=": "equal" }[event.key];
    if (!choice) return;
    event.preventDefault();
    vote(choice);
  });
  advance();
})();
