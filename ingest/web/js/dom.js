// A tiny element builder and the formatting shared by the views. Text always goes in as text
// (never as HTML), so product names and URLs from a CSV cannot inject markup.

/** h("a", {href: "#/", class: "x"}, "text", child) → an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

const UNITS = ["B", "kB", "MB", "GB"];

/** 1234567 → "1.2 MB" (decimal units, as file managers show them). */
export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** The share saved going from `before` to `after` bytes, e.g. "63 %" (negative if it grew). */
export function savedPercent(before, after) {
  if (!before) return null;
  return Math.round((1 - after / before) * 100);
}

/** The API's times may lack a zone (they are UTC); show them in the reader's local time. */
export function parseTime(iso) {
  if (!iso) return null;
  const zoned = /[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`;
  return new Date(zoned);
}

export function formatTime(iso) {
  const date = parseTime(iso);
  if (!date || Number.isNaN(date.getTime())) return "";
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

const STATUS_LABELS = {
  pending: "Pending",
  processing: "Processing",
  completed: "Completed",
  completed_with_errors: "Completed with errors",
  failed: "Failed",
  expired: "Expired",
  done: "Compressed",
};

export const FINAL = new Set(["completed", "completed_with_errors", "failed", "expired"]);

export function statusBadge(status) {
  return h("span", { class: `badge badge-${status}` }, STATUS_LABELS[status] || status);
}

/** A message box; `kind` is "error", "info" or "empty". Errors are announced (role=alert). */
export function notice(kind, ...children) {
  const role = kind === "error" ? "alert" : "status";
  return h("div", { class: `notice notice-${kind}`, role }, ...children);
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, h("span", { class: "spinner" }), text);
}
