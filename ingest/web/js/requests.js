// "My requests": the key's requests, newest first, a page at a time (GET /api/requests).

import { ApiError, listRequests } from "./api.js";
import { formatTime, h, loading, notice, statusBadge } from "./dom.js";

const PAGE = 20;

export function requestsView({ signal, onUnauthorized }) {
  const list = h("ul", { class: "requests", "aria-label": "Requests" });
  const status = h("div", { "aria-live": "polite" });
  const more = h("button", { type: "button", class: "btn btn-quiet" }, "Show older requests");
  const moreRow = h("div", { class: "actions", hidden: true }, more);
  const refresh = h("button", { type: "button", class: "btn btn-quiet btn-small" }, "Refresh");
  let before = null;

  async function load(reset) {
    if (reset) {
      before = null;
      list.replaceChildren();
    }
    moreRow.hidden = true;
    refresh.disabled = true;
    status.replaceChildren(loading(reset ? "Loading your requests…" : "Loading older requests…"));
    try {
      const page = await listRequests({ limit: PAGE, before });
      if (signal.aborted) return;
      status.replaceChildren();
      list.append(...page.requests.map(requestItem));
      before = page.next_before;
      moreRow.hidden = !before;
      if (!list.children.length) status.replaceChildren(empty());
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.status === 401) return onUnauthorized(err.message);
      const retry = h("button", { type: "button", class: "btn btn-quiet btn-small" }, "Try again");
      retry.addEventListener("click", () => load(reset));
      status.replaceChildren(notice("error", err.message, " ", retry));
    } finally {
      refresh.disabled = false;
    }
  }

  more.addEventListener("click", () => load(false));
  refresh.addEventListener("click", () => load(true));
  load(true);

  return h(
    "section",
    { class: "card", "aria-labelledby": "requests-title" },
    h("div", { class: "title-row" }, h("h1", { id: "requests-title" }, "My requests"), refresh),
    h("p", { class: "muted" }, "Newest first. Open one to watch its progress and see its images."),
    list,
    status,
    moreRow,
  );
}

function empty() {
  return notice(
    "empty",
    h("strong", {}, "No requests yet. "),
    h("a", { href: "#/" }, "Upload a CSV"),
    " to make your first one.",
  );
}

function requestItem(request) {
  const { total, done, failed } = request.counts;
  const counts =
    request.status === "pending"
      ? "reading the CSV"
      : `${done + failed} of ${total} images` + (failed ? ` · ${failed} failed` : "");
  return h(
    "li",
    {},
    h(
      "a",
      { class: "request-link", href: `#/requests/${request.request_id}` },
      h(
        "span",
        { class: "request-main" },
        h("span", { class: "request-name" }, request.filename || "(inbox CSV)"),
        h("span", { class: "request-meta" }, `${formatTime(request.created_at)} · ${counts}`),
        h("code", { class: "request-id" }, request.request_id),
      ),
      statusBadge(request.status),
    ),
  );
}
