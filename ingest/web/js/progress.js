// One request's live progress: polls its status about once a second with If-None-Match (the
// gateway answers 304 while nothing moved) until it is final, and shows every image before and
// after with the bytes saved.

import { ApiError, saveOutputCsv, status } from "./api.js";
import {
  FINAL,
  formatBytes,
  formatTime,
  h,
  loading,
  notice,
  savedPercent,
  statusBadge,
} from "./dom.js";

const POLL_MS = 1000;
const MAX_BACKOFF_MS = 8000;
const PAGE_ROWS = 100; // products per page of the gallery (the API pages by rows)

/** "q 65 · SSIMULACRA2 71.2": the quality an image was encoded with and, for auto, its score. */
function qualityText(image) {
  const parts = [];
  if (image.quality !== null && image.quality !== undefined) parts.push(`q ${image.quality}`);
  if (image.score !== null && image.score !== undefined) {
    const basis = image.score_whole === false ? " (sampled)" : "";
    parts.push(`SSIMULACRA2 ${image.score.toFixed(1)}${basis}`);
  }
  return parts.length ? ` · ${parts.join(" · ")}` : "";
}

export function progressView(requestId, { signal, onUnauthorized }) {
  const root = h("section", { class: "progress-view", "aria-labelledby": "request-title" });
  root.append(loading("Loading the request…"));

  let offset = 0;
  let etag = null;
  let built = null; // the view's parts, made on the first answer
  let wake = null; // resolves the poller's sleep early (a page change)

  function sleep(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wake = done;
      signal.addEventListener("abort", done);
    });
  }

  function goToPage(next) {
    offset = next;
    etag = null;
    if (wake) wake();
    if (built && FINAL.has(built.last.status)) poll(); // the poller has stopped: fetch once
  }

  async function poll() {
    let delay = POLL_MS;
    while (!signal.aborted) {
      try {
        const answer = await status(requestId, { offset, limit: PAGE_ROWS, etag, signal });
        delay = POLL_MS;
        if (built) built.connection.replaceChildren();
        if (!answer.notModified) {
          etag = answer.etag;
          render(answer.body);
        }
        if (built && FINAL.has(built.last.status)) return;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiError && err.status === 401) return onUnauthorized(err.message);
        if (err instanceof ApiError && err.status === 404) {
          root.replaceChildren(notFound());
          return;
        }
        if (err instanceof ApiError && err.status === 410) {
          root.replaceChildren(expired(err.message)); // kept past RETAIN_REQUESTS_DAYS
          return;
        }
        const where = built ? built.connection : root;
        where.replaceChildren(notice("error", `${err.message} Retrying…`));
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      }
      await sleep(delay);
    }
  }

  function render(body) {
    if (!built) {
      built = buildView(requestId, goToPage);
      root.replaceChildren(built.el);
    }
    built.last = body;
    updateSummary(built, body);
    updateProducts(built, body);
  }

  poll();
  return root;
}

function expired(message) {
  return h(
    "div",
    { class: "card" },
    h("h1", {}, "Request expired"),
    notice("info", message),
    h("p", {}, h("a", { href: "#/requests" }, "See your requests")),
  );
}

function notFound() {
  return h(
    "div",
    { class: "card" },
    h("h1", {}, "Request not found"),
    notice(
      "error",
      "There is no request with this id for your key. It may belong to another tenant's key.",
    ),
    h("p", {}, h("a", { href: "#/requests" }, "See your requests")),
  );
}

function buildView(requestId, goToPage) {
  const parts = {
    title: h("h1", { id: "request-title" }),
    badge: h("span"),
    meta: h("p", { class: "meta" }),
    fill: h("div", { class: "bar-fill" }),
    failedFill: h("div", { class: "bar-failed" }),
    percent: h("span", { class: "bar-percent", "data-testid": "percent" }),
    counts: h("p", { class: "counts", "data-testid": "counts" }),
    totals: h("dl", { class: "totals" }),
    problem: h("div"),
    webhook: h("p", { class: "meta" }),
    connection: h("div", { "aria-live": "polite" }),
    download: h("button", { type: "button", class: "btn btn-primary", disabled: true }),
    downloadNote: h("span", { class: "hint" }),
    downloadErrors: h("div", { "aria-live": "polite" }),
    products: h("ol", { class: "products", "aria-label": "Products" }),
    pager: h("nav", { class: "pager", "aria-label": "Product pages" }),
    productsNote: h("p", { class: "hint" }),
    cells: new Map(), // "row:slot" → {status, el} for the products shown
    rowsKey: null,
    goToPage,
    requestId,
  };
  parts.bar = h(
    "div",
    {
      class: "bar",
      role: "progressbar",
      "aria-label": "Images finished",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
    },
    parts.fill,
    parts.failedFill,
  );
  parts.download.addEventListener("click", async () => {
    parts.download.disabled = true;
    parts.downloadErrors.replaceChildren();
    try {
      await saveOutputCsv(requestId);
    } catch (err) {
      parts.downloadErrors.replaceChildren(notice("error", err.message));
    } finally {
      parts.download.disabled = false;
    }
  });
  parts.download.textContent = "Download output CSV";

  parts.el = h(
    "div",
    { class: "stack" },
    h(
      "div",
      { class: "card" },
      h("div", { class: "title-row" }, parts.title, parts.badge),
      parts.meta,
      h("div", { class: "bar-row" }, parts.bar, parts.percent),
      parts.counts,
      parts.connection,
      parts.problem,
      parts.totals,
      parts.webhook,
      h("div", { class: "actions" }, parts.download, parts.downloadNote),
      parts.downloadErrors,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "gallery-title" },
      h("h2", { id: "gallery-title" }, "Images"),
      parts.productsNote,
      parts.products,
      parts.pager,
    ),
  );
  return parts;
}

function updateSummary(parts, body) {
  const { total, done, failed } = body.counts;
  const finished = done + failed;
  const pct = total ? Math.floor((finished / total) * 100) : body.status === "pending" ? 0 : 100;
  parts.title.textContent = body.filename || "Request";
  parts.badge.replaceChildren(statusBadge(body.status));
  parts.meta.replaceChildren(
    "Request ",
    h("code", {}, body.request_id),
    ` · started ${formatTime(body.created_at)}`,
    body.quality ? ` · quality ${body.quality}` : "",
    body.format ? ` · ${body.format.toUpperCase()}` : "",
    body.effort ? ` · effort ${body.effort}` : "",
    body.max_bytes ? ` · at most ${formatBytes(body.max_bytes)} an image` : "",
    body.max_width || body.max_height
      ? ` · within ${body.max_width || "any"} × ${body.max_height || "any"} px`
      : "",
    body.widths && body.widths.length ? ` · widths ${body.widths.join(", ")}` : "",
    body.metadata && body.metadata !== "none" ? ` · metadata ${body.metadata}` : "",
    body.animation === "keep" ? " · animations kept" : "",
    body.counts.revalidated ? ` · ${body.counts.revalidated} revalidated` : "",
    body.counts.reused ? ` · ${body.counts.reused} reused` : "",
  );
  parts.bar.setAttribute("aria-valuenow", String(pct));
  parts.bar.setAttribute("aria-valuetext", `${pct} %, ${finished} of ${total} images`);
  parts.fill.style.width = total ? `${(done / total) * 100}%` : "0";
  parts.failedFill.style.width = total ? `${(failed / total) * 100}%` : "0";
  parts.bar.classList.toggle("bar-waiting", body.status === "pending");
  parts.percent.textContent = `${pct} %`;

  if (body.status === "pending") {
    parts.counts.textContent = "Reading the CSV…";
  } else {
    const waiting = total - finished;
    parts.counts.replaceChildren(
      h("strong", {}, `${finished} of ${total}`),
      " images finished · ",
      h("span", { class: "key key-ok" }, `${done} compressed`),
      " · ",
      h("span", { class: "key key-bad" }, `${failed} failed`),
      waiting ? ` · ${waiting} in progress` : "",
    );
  }

  parts.problem.replaceChildren(
    body.status === "failed"
      ? notice("error", h("strong", {}, "This request failed: "), body.error || "no reason given")
      : "",
  );

  const hook = body.webhook_state;
  const attempts = body.webhook_attempts.length;
  parts.webhook.textContent = hook
    ? `Webhook: ${hook}${attempts ? ` after ${attempts} attempt${attempts === 1 ? "" : "s"}` : ""}`
    : "";

  const ready = body.status === "completed" || body.status === "completed_with_errors";
  parts.download.hidden = body.status === "failed";
  parts.download.disabled = !ready;
  parts.downloadNote.textContent =
    ready || body.status === "failed" ? "" : "Available when every image is finished.";
}

function updateProducts(parts, body) {
  const page = body.products_page;
  // Rebuilt only when the rows or their image slots change (images are listed a moment after
  // their rows); otherwise only the cells whose status moved are replaced.
  const shape = body.products.map((p) => `${p.row}/${p.images.length}`).join(",");
  const rowsKey = `${page.offset}:${shape}`;
  if (rowsKey !== parts.rowsKey) {
    parts.rowsKey = rowsKey;
    parts.cells.clear();
    parts.products.replaceChildren(...body.products.map((p) => productCard(p, parts.cells)));
    updatePager(parts, body);
  }
  updateProductsNote(parts, body);
  for (const product of body.products) {
    product.images.forEach((image, slot) => {
      const key = `${product.row}:${slot}`;
      const cell = parts.cells.get(key);
      if (cell && cell.status !== image.status) {
        const fresh = imageCell(product, image, slot);
        cell.el.replaceWith(fresh);
        parts.cells.set(key, { status: image.status, el: fresh });
      }
    });
  }
  updateTotals(parts, body);
}

function updateProductsNote(parts, body) {
  const page = body.products_page;
  const shown = body.products.length;
  const paged = page.offset > 0 || page.next_offset !== null;
  parts.productsNote.textContent =
    shown === 0
      ? body.status === "failed"
        ? "No images: the CSV could not be processed."
        : "Products appear here as soon as the CSV has been read."
      : paged
        ? `Rows ${page.offset + 1}–${page.offset + shown}.`
        : "";
}

function updatePager(parts, body) {
  const page = body.products_page;
  const paged = page.offset > 0 || page.next_offset !== null;
  if (!paged) {
    parts.pager.replaceChildren();
    return;
  }
  const prev = h("button", { type: "button", class: "btn btn-quiet" }, "← Previous rows");
  const next = h("button", { type: "button", class: "btn btn-quiet" }, "Next rows →");
  prev.disabled = page.offset === 0;
  next.disabled = page.next_offset === null;
  prev.addEventListener("click", () => parts.goToPage(Math.max(0, page.offset - PAGE_ROWS)));
  next.addEventListener("click", () => parts.goToPage(page.next_offset));
  parts.pager.replaceChildren(prev, next);
}

function updateTotals(parts, body) {
  let bytesIn = 0;
  let bytesOut = 0;
  for (const product of body.products) {
    for (const image of product.images) {
      if (image.status === "done" && image.bytes_in && image.bytes_out !== null) {
        bytesIn += image.bytes_in;
        bytesOut += image.bytes_out;
      }
    }
  }
  const paged = body.products_page.offset > 0 || body.products_page.next_offset !== null;
  const pct = savedPercent(bytesIn, bytesOut);
  const tile = (label, value, testid) =>
    h("div", { class: "tile" }, h("dt", {}, label), h("dd", { "data-testid": testid }, value));
  parts.totals.replaceChildren(
    tile(
      paged ? "Before (rows shown)" : "Before",
      bytesIn ? formatBytes(bytesIn) : "–",
      "bytes-in",
    ),
    tile(
      paged ? "After (rows shown)" : "After",
      bytesIn ? formatBytes(bytesOut) : "–",
      "bytes-out",
    ),
    tile("Saved", pct === null ? "–" : `${pct} %`, "saved"),
  );
}

function productCard(product, cells) {
  const list = h("div", { class: "shots" });
  product.images.forEach((image, slot) => {
    const el = imageCell(product, image, slot);
    cells.set(`${product.row}:${slot}`, { status: image.status, el });
    list.append(el);
  });
  const count = product.images.length;
  return h(
    "li",
    { class: "product" },
    h(
      "div",
      { class: "product-head" },
      h(
        "h3",
        { class: "product-name" },
        h("span", { class: "serial" }, `#${product.serial || product.row + 1}`),
        " ",
        product.product || "(no name)",
      ),
      h("p", { class: "hint" }, `${count} image${count === 1 ? "" : "s"}`),
    ),
    list,
  );
}

function imageCell(product, image, slot) {
  const name = `${product.product || "product"}, image ${slot + 1}`;
  const before = thumb(image.input_url, `Before: ${name}`, "before");
  let after;
  if (image.status === "done" && image.output_url) {
    after = thumb(image.output_url, `After: ${name}`, "after");
  } else if (image.output_expired) {
    after = h("div", { class: "thumb thumb-empty" }, "Output expired");
  } else if (image.status === "failed") {
    after = h("div", { class: "thumb thumb-empty thumb-failed" }, "Failed");
  } else {
    after = h("div", { class: "thumb thumb-empty" }, h("span", { class: "spinner" }), "Working…");
  }
  let caption;
  if (image.status === "failed") {
    caption = h(
      "p",
      { class: "shot-error" },
      h("strong", {}, "Failed: "),
      image.error || "no reason",
    );
  } else if (image.status === "done") {
    const pct = savedPercent(image.bytes_in, image.bytes_out);
    caption = h(
      "p",
      { class: "shot-bytes" },
      `${formatBytes(image.bytes_in)} → ${formatBytes(image.bytes_out)}`,
      pct === null
        ? ""
        : h(
            "strong",
            { class: pct >= 0 ? "saved" : "grew" },
            pct >= 0 ? ` −${pct} %` : ` +${-pct} %`,
          ),
      h("span", { class: "shot-quality", "data-testid": "image-quality" }, qualityText(image)),
      variantLinks(image),
      reuseText(image),
    );
  } else {
    caption = h("p", { class: "shot-bytes muted" }, "Waiting for the image…");
  }
  return h(
    "figure",
    { class: `shot shot-${image.status}`, dataset: { status: image.status } },
    h("div", { class: "pair" }, before, after),
    h(
      "figcaption",
      {},
      caption,
      h(
        "a",
        { class: "shot-url", href: image.input_url, target: "_blank", rel: "noopener noreferrer" },
        image.input_url,
      ),
    ),
  );
}

/** " · reused" (an earlier output copied) or " · revalidated" (the origin answered 304). */
function reuseText(image) {
  if (image.reused) return h("span", { class: "shot-reuse" }, " · reused");
  if (image.revalidated) return h("span", { class: "shot-reuse" }, " · revalidated");
  return "";
}

/** The output's size and its srcset variants: "800 × 600 · 320 w (12 KB) · 640 w (30 KB)". */
function variantLinks(image) {
  if (!image.width) return "";
  const links = (image.variants || []).map((variant) =>
    h(
      "a",
      { href: variant.url, target: "_blank", rel: "noopener noreferrer", class: "variant" },
      `${variant.width} w (${formatBytes(variant.bytes)})`,
    ),
  );
  return h(
    "span",
    { class: "shot-sizes", "data-testid": "image-sizes" },
    ` · ${image.width} × ${image.height}`,
    image.frames ? ` · ${image.frames} frames` : "",
    ...links.flatMap((link) => [" · ", link]),
  );
}

function thumb(url, alt, role) {
  const img = h("img", {
    src: url,
    alt,
    loading: "lazy",
    decoding: "async",
    referrerpolicy: "no-referrer",
    "data-role": role,
  });
  img.addEventListener("error", () => link.classList.add("thumb-broken"), { once: true });
  const link = h(
    "a",
    { class: "thumb", href: url, target: "_blank", rel: "noopener noreferrer" },
    img,
    h("span", { class: "thumb-label" }, role === "before" ? "Before" : "After"),
  );
  return link;
}
