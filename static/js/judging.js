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

  // One vote per pair shown: the pair is taken before the request, so a second click or key
  // does nothing until the next pair is on the screen.
  async function vote(choice) {
    const pair = current;
    if (!pair) return;
    current = null;
    enable(false);
    say("Saving…");
    const response = await fetch(root.dataset.voteUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ token: pair.token, choice: choice }),
    }).catch(() => null);
    if (response === null || response.status === 429) {
      // not recorded: keep the pair on the screen, say why
      say(response === null ? "Could not reach the server; try again." : await errorText(response));
      current = pair;
      enable(true);
      return;
    }
    if (response.ok) {
      votes += 1;
      counter.textContent = String(votes);
    }
    await advance();
    if (!response.ok) say(await errorText(response));
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
