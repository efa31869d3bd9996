// The page's router: #/ (new request), #/requests (my requests), #/requests/<id> (progress).
// Every view asks for the API key first if this tab has none.

import { forgetKey, storedKey } from "./api.js";
import { keyView } from "./key.js";
import { progressView } from "./progress.js";
import { requestsView } from "./requests.js";
import { uploadView } from "./upload.js";

const main = document.getElementById("main");
const keybox = document.getElementById("keybox");
let current = null; // the shown view's AbortController: leaving a view stops its polling

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const progress = /^\/requests\/([0-9a-zA-Z]+)$/.exec(hash);
  if (progress)
    return { name: "requests", title: "Request", view: (ctx) => progressView(progress[1], ctx) };
  if (hash === "/requests") return { name: "requests", title: "My requests", view: requestsView };
  return { name: "new", title: "New request", view: uploadView };
}

function show(reason = null) {
  if (current) current.abort();
  current = new AbortController();
  const { name, title, view } = route();
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const key = storedKey();
  updateKeybox(key);
  if (!key) {
    document.title = "Sign in · imgpipe";
    main.replaceChildren(keyView(() => show(), reason));
    return;
  }
  document.title = `${title} · imgpipe`;
  const ctx = {
    signal: current.signal,
    onUploaded: (id) => (location.hash = `#/requests/${id}`),
    onUnauthorized: (message) => {
      forgetKey();
      show(`Your key stopped working (${message}). Enter a valid key.`);
    },
  };
  main.replaceChildren(view(ctx));
}

function updateKeybox(key) {
  keybox.hidden = !key;
  if (key) document.getElementById("key-hint").textContent = `…${key.slice(-4)}`;
}

document.getElementById("forget-key").addEventListener("click", () => {
  forgetKey();
  show();
});

window.addEventListener("hashchange", () => {
  show();
  main.focus({ preventScroll: false }); // move keyboard and screen-reader focus to the new view
});

show();
