// Calls to the gateway's /api, with the API key kept in this tab's session storage.

const KEY_ITEM = "imgpipe.apiKey";

export function storedKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function storeKey(key) {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_ITEM);
}

/** An answer other than 2xx/304; `message` is the API's own `error` text when it gave one. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Fetch `path` with the key; throws ApiError (status 0 when the gateway is unreachable). */
export async function call(path, { key = storedKey(), headers = {}, ...options } = {}) {
  let response;
  try {
    // no-store: our own If-None-Match must reach the gateway, and its 304 must reach us.
    response = await fetch(path, {
      cache: "no-store",
      ...options,
      headers: { Authorization: `Bearer ${key}`, ...headers },
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "Could not reach the service. Check your connection and try again.");
  }
  if (response.ok || response.status === 304) return response;
  throw new ApiError(response.status, await errorText(response));
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") return body.error;
  } catch {
    // not JSON: fall through to the status line
  }
  return `The service answered ${response.status} ${response.statusText}`.trim();
}

let uploadFieldsLoaded = null;

/**
 * The upload form's fields as the gateway's OpenAPI document states them: each field's rules
 * and defaults are defined once, in the service (shared/rules.py and its settings).
 */
export function uploadFields() {
  uploadFieldsLoaded ??= fetch("/openapi.json")
    .then((response) => {
      if (!response.ok) throw new Error(`/openapi.json answered ${response.status}`);
      return response.json();
    })
    .then((doc) => doc.paths["/api/upload"].post.requestBody.content["multipart/form-data"])
    .then((form) => form.schema.properties)
    .catch((err) => {
      uploadFieldsLoaded = null; // try again next time the form is shown
      throw err;
    });
  return uploadFieldsLoaded;
}

export async function getJson(path, options) {
  return (await call(path, options)).json();
}

/** Upload a CSV with its options; resolves to {request_id, status}. */
export async function upload(
  file,
  {
    quality,
    format,
    effort,
    maxBytes,
    maxWidth,
    maxHeight,
    widths,
    metadata,
    animation,
    webhookUrl,
  },
) {
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("quality", String(quality));
  if (format) form.append("format", format);
  if (effort) form.append("effort", effort);
  if (maxBytes) form.append("max_bytes", String(maxBytes));
  if (maxWidth) form.append("max_width", String(maxWidth));
  if (maxHeight) form.append("max_height", String(maxHeight));
  if (widths) form.append("widths", widths);
  if (metadata) form.append("metadata", metadata);
  if (animation) form.append("animation", animation);
  if (webhookUrl) form.append("webhook_url", webhookUrl);
  return (await call("api/upload", { method: "POST", body: form })).json();
}

/** One page of a request's status; `etag` makes an unchanged page answer {notModified: true}. */
export async function status(requestId, { offset, limit, etag, signal }) {
  const query = new URLSearchParams({ offset: String(offset), limit: String(limit) });
  const headers = etag ? { "If-None-Match": etag } : {};
  const response = await call(`api/status/${encodeURIComponent(requestId)}?${query}`, {
    headers,
    signal,
  });
  if (response.status === 304) return { notModified: true, etag };
  return { notModified: false, etag: response.headers.get("ETag"), body: await response.json() };
}

/** The key's requests, newest first; `before` is the previous page's next_before. */
export async function listRequests({ limit = 20, before = null, key } = {}) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (before) query.set("before", before);
  return getJson(`api/requests?${query}`, key ? { key } : {});
}

/** The output CSV, fetched with the key (a plain link could not send it) and saved as a file. */
export async function saveOutputCsv(requestId) {
  const response = await call(`api/download/${encodeURIComponent(requestId)}`);
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = match ? match[1] : `${requestId}-output.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoke after the click has been handled: the browser has started saving by then.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
