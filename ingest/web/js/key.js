// Asks for the API key once per tab, checks it against the gateway, and keeps it.

import { ApiError, listRequests, storeKey } from "./api.js";
import { h, notice } from "./dom.js";

/** The key form; `onAccepted` runs once the gateway has accepted the key. */
export function keyView(onAccepted, reason = null) {
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "api-key-help",
  });
  const errors = h("div", { class: "form-errors", "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "btn btn-primary" }, "Continue");

  async function submit(event) {
    event.preventDefault();
    const key = input.value.trim();
    errors.replaceChildren();
    if (!key) {
      errors.append(notice("error", "Enter your API key."));
      input.focus();
      return;
    }
    button.disabled = true;
    button.textContent = "Checking…";
    try {
      await listRequests({ limit: 1, key });
      storeKey(key);
      onAccepted();
    } catch (err) {
      const text =
        err instanceof ApiError && err.status === 401
          ? "This key was not accepted: it is unknown or has been revoked."
          : err.message;
      errors.append(notice("error", text));
      input.select();
      input.focus();
    } finally {
      button.disabled = false;
      button.textContent = "Continue";
    }
  }

  const form = h(
    "form",
    { class: "card card-narrow", onsubmit: submit, novalidate: true },
    h("h1", {}, "Sign in with your API key"),
    h(
      "p",
      { class: "muted" },
      "Every request you make belongs to the tenant of your key. ",
      "The key stays in this browser tab only and is forgotten when you close it.",
    ),
    reason ? notice("error", reason) : null,
    h("label", { for: "api-key" }, "API key"),
    input,
    h(
      "p",
      { id: "api-key-help", class: "hint" },
      "Your administrator makes one with ",
      h("code", {}, "python -m ingest.keys create"),
      "; it starts with ",
      h("code", {}, "imgp_"),
      ".",
    ),
    errors,
    h("div", { class: "actions" }, button),
  );
  queueMicrotask(() => input.focus());
  return form;
}
