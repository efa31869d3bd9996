// The new-request form: a CSV by drag-and-drop or file picker, quality (a fixed number or a
// perceptual level), format, effort, size ceiling and webhook options.

import { ApiError, upload, uploadFields } from "./api.js";
import { formatBytes, h, notice } from "./dom.js";

// How each output format is named on the page; the formats themselves come from the service.
const FORMAT_NAMES = { jpeg: "JPEG", webp: "WebP", avif: "AVIF", jxl: "JPEG XL" };
const METADATA_NAMES = {
  none: "None (smallest)",
  copyright: "Copyright and credit only",
  keep: "Keep, without GPS and serial numbers",
  all: "Everything, GPS and serial numbers too",
};

function uploadIcon() {
  const icon = h("span", { class: "dropzone-icon", "aria-hidden": "true" });
  // Static markup of our own (an SVG needs its namespace, which innerHTML gives it).
  icon.innerHTML =
    '<svg viewBox="0 0 24 24" width="32" height="32"><path d="M12 16V4m0 0l-4 4m4-4l4 4M4 ' +
    '16v3a1 1 0 001 1h14a1 1 0 001-1v-3" fill="none" stroke="currentColor" stroke-width="1.8" ' +
    'stroke-linecap="round" stroke-linejoin="round"/></svg>';
  return icon;
}

export function uploadView({ onUploaded, onUnauthorized }) {
  let file = null;

  const fileInput = h("input", {
    id: "csv-file",
    name: "file",
    type: "file",
    accept: ".csv,text/csv",
    class: "visually-hidden",
    "aria-describedby": "csv-help",
  });
  const chosen = h("p", { class: "dropzone-file", "aria-live": "polite" });
  const dropzone = h(
    "div",
    { class: "dropzone", "data-testid": "dropzone" },
    uploadIcon(),
    h(
      "p",
      { class: "dropzone-title" },
      "Drop your CSV here or ",
      h("label", { for: "csv-file", class: "link-button" }, "choose a file"),
    ),
    h(
      "p",
      { id: "csv-help", class: "hint" },
      "Columns: S. No., Product Name, Input Image Urls (several URLs in one cell are separated ",
      "by commas).",
    ),
    chosen,
    fileInput,
  );

  function choose(picked) {
    file = picked;
    errors.replaceChildren();
    chosen.replaceChildren(
      ...(file ? [h("strong", {}, file.name), ` · ${formatBytes(file.size)}`] : []),
    );
    dropzone.classList.toggle("has-file", Boolean(file));
  }

  fileInput.addEventListener("change", () => choose(fileInput.files[0] || null));
  // A click anywhere on the zone opens the picker (the label inside already does so itself).
  dropzone.addEventListener("click", (event) => {
    if (!event.target.closest("label, input")) fileInput.click();
  });
  for (const name of ["dragenter", "dragover"]) {
    dropzone.addEventListener(name, (event) => {
      event.preventDefault();
      dropzone.classList.add("dragging");
    });
  }
  dropzone.addEventListener("dragleave", (event) => {
    if (!dropzone.contains(event.relatedTarget)) dropzone.classList.remove("dragging");
  });
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("dragging");
    const dropped = event.dataTransfer.files[0];
    if (dropped) choose(dropped);
  });

  const quality = h("input", {
    id: "quality",
    name: "quality",
    type: "number",
    step: 1,
    inputmode: "numeric",
    "aria-label": "Quality number",
    "aria-describedby": "quality-help",
  });
  const slider = h("input", { type: "range", "aria-hidden": "true", tabindex: "-1" });
  slider.addEventListener("input", () => (quality.value = slider.value));
  quality.addEventListener("input", () => (slider.value = quality.value));
  const qualityHelp = h("p", { id: "quality-help", class: "hint" });
  // "fixed" (the number below) or one of the service's auto levels.
  const mode = h("select", { id: "quality-mode", "aria-describedby": "quality-help" });
  const fixedRow = h("div", { class: "quality-row" }, slider, quality);
  mode.addEventListener("change", () => (fixedRow.hidden = mode.value !== "fixed"));
  const format = h("select", { id: "format", name: "format", "aria-describedby": "format-help" });
  const effort = h("select", { id: "effort", name: "effort", "aria-describedby": "effort-help" });
  const maxBytes = h("input", {
    id: "max-bytes",
    name: "max_bytes",
    type: "number",
    step: 1,
    inputmode: "numeric",
    placeholder: "no limit",
    "aria-describedby": "max-bytes-help",
  });
  const side = (id, name, placeholder) =>
    h("input", {
      id,
      name,
      type: "number",
      step: 1,
      inputmode: "numeric",
      placeholder,
      "aria-describedby": "sizes-help",
    });
  const maxWidth = side("max-width", "max_width", "any width");
  const maxHeight = side("max-height", "max_height", "any height");
  const widths = h("input", {
    id: "widths",
    name: "widths",
    type: "text",
    inputmode: "numeric",
    placeholder: "e.g. 320,640,1280",
    autocomplete: "off",
    "aria-describedby": "widths-help",
  });
  const metadata = h("select", {
    id: "metadata",
    name: "metadata",
    "aria-describedby": "metadata-help",
  });
  const animation = h("input", {
    id: "animation",
    name: "animation",
    type: "checkbox",
    "aria-describedby": "animation-help",
  });
  let rules = null; // the fields' ranges, once the service has told us

  function options(select, values, chosen, label = (value) => value) {
    select.replaceChildren(
      ...values.map((value) => h("option", { value, selected: value === chosen }, label(value))),
    );
  }

  // The fields' ranges, choices and defaults, as the service states them in /openapi.json.
  const ready = uploadFields().then((fields) => {
    const [number, levels] = fields.quality.anyOf;
    const { minimum, maximum } = number;
    const byDefault = fields.quality.default;
    rules = { minimum, maximum, maxBytes: [fields.max_bytes.minimum, fields.max_bytes.maximum] };
    for (const input of [quality, slider]) {
      Object.assign(input, { min: minimum, max: maximum, value: byDefault });
    }
    qualityHelp.textContent =
      `Auto levels give every image the smallest file that reaches the level's perceptual ` +
      `score (SSIMULACRA2); a fixed number, ${minimum}–${maximum}, means the same as ever ` +
      `(lower is smaller). Default ${byDefault}.`;
    const autos = levels.enum.filter((value) => value !== "auto");
    options(mode, [...autos, "fixed"], typeof byDefault === "number" ? "fixed" : byDefault, (v) =>
      v === "fixed" ? "Fixed number" : `Auto: ${v.replace("auto:", "")}`,
    );
    fixedRow.hidden = mode.value !== "fixed";
    options(effort, fields.effort.enum, fields.effort.default);
    options(metadata, fields.metadata.enum, fields.metadata.default, (v) => METADATA_NAMES[v] || v);
    Object.assign(maxBytes, { min: rules.maxBytes[0], max: rules.maxBytes[1] });
    for (const [input, field] of [
      [maxWidth, fields.max_width],
      [maxHeight, fields.max_height],
    ]) {
      Object.assign(input, { min: field.minimum, max: field.maximum });
    }
    format.replaceChildren(
      ...fields.format.enum.map((value) =>
        h(
          "option",
          { value, selected: value === fields.format.default },
          FORMAT_NAMES[value] || value.toUpperCase(),
        ),
      ),
    );
  });
  ready.catch(() => fail("Could not load the form's options from the service. Reload the page."));

  const webhook = h("input", {
    id: "webhook-url",
    name: "webhook_url",
    type: "url",
    placeholder: "https://example.com/hooks/imgpipe",
    autocomplete: "off",
    "aria-describedby": "webhook-help",
  });

  const errors = h("div", { class: "form-errors", id: "upload-errors", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Compress images");

  function fail(text, focus) {
    errors.replaceChildren(notice("error", text));
    if (focus) focus.focus();
  }

  async function send(event) {
    event.preventDefault();
    errors.replaceChildren();
    if (!file) return fail("Choose a CSV file first.", fileInput);
    if (!rules) return fail("The form's options are still loading; try again in a moment.");
    let q = mode.value;
    if (q === "fixed") {
      q = Number(quality.value);
      if (!Number.isInteger(q) || q < rules.minimum || q > rules.maximum) {
        const range = `${rules.minimum} to ${rules.maximum}`;
        return fail(`Quality must be a whole number from ${range}.`, quality);
      }
    }
    const ceiling = maxBytes.value.trim();
    const [fewest, most] = rules.maxBytes;
    const bytes = Number(ceiling);
    if (ceiling && !(Number.isInteger(bytes) && bytes >= fewest && bytes <= most)) {
      const range = `${fewest} to ${most}`;
      return fail(`The size limit must be a whole number of bytes from ${range}.`, maxBytes);
    }
    submit.disabled = true;
    submit.textContent = "Uploading…";
    try {
      const accepted = await upload(file, {
        quality: q,
        format: format.value,
        effort: effort.value,
        maxBytes: ceiling,
        maxWidth: maxWidth.value.trim(),
        maxHeight: maxHeight.value.trim(),
        widths: widths.value.trim(),
        metadata: metadata.value,
        animation: animation.checked ? "keep" : "",
        webhookUrl: webhook.value.trim(),
      });
      onUploaded(accepted.request_id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return onUnauthorized(err.message);
      fail(err.message);
    } finally {
      submit.disabled = false;
      submit.textContent = "Compress images";
    }
  }

  return h(
    "form",
    { class: "card", onsubmit: send, novalidate: true, "aria-labelledby": "upload-title" },
    h("h1", { id: "upload-title" }, "Compress product images"),
    h(
      "p",
      { class: "muted" },
      "Upload a CSV of products and image URLs. Every image is downloaded, compressed ",
      "and stored; you can watch it happen and download a CSV with the new links.",
    ),
    dropzone,
    h(
      "div",
      { class: "fields" },
      h(
        "div",
        { class: "field" },
        h("label", { for: "quality-mode" }, "Quality"),
        mode,
        fixedRow,
        qualityHelp,
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: "format" }, "Output format"),
        format,
        h(
          "p",
          { id: "format-help", class: "hint" },
          "JPEG opens everywhere; WebP and AVIF are smaller at the same quality number.",
        ),
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: "effort" }, "Effort"),
        effort,
        h(
          "p",
          { id: "effort-help", class: "hint" },
          "More effort: fewer bytes, more time per image.",
        ),
      ),
      h(
        "div",
        { class: "field" },
        h(
          "label",
          { for: "max-bytes" },
          "Size limit ",
          h("span", { class: "optional" }, "optional"),
        ),
        maxBytes,
        h(
          "p",
          { id: "max-bytes-help", class: "hint" },
          "Bytes per image at most: a fixed quality is lowered until the image fits.",
        ),
      ),
      h(
        "div",
        { class: "field" },
        h(
          "label",
          { for: "max-width" },
          "Largest size ",
          h("span", { class: "optional" }, "optional"),
        ),
        h("div", { class: "size-row" }, maxWidth, h("span", { "aria-hidden": "true" }, "×"), maxHeight),
        h(
          "p",
          { id: "sizes-help", class: "hint" },
          "Width and height in pixels: larger images are scaled down to fit, never up.",
        ),
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: "widths" }, "Extra widths ", h("span", { class: "optional" }, "optional")),
        widths,
        h(
          "p",
          { id: "widths-help", class: "hint" },
          "A smaller copy of every image at each width, for a srcset (the CSV gets a column).",
        ),
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: "metadata" }, "Metadata"),
        metadata,
        h(
          "p",
          { id: "metadata-help", class: "hint" },
          "GPS positions and camera serial numbers go only with “everything”.",
        ),
      ),
      h(
        "div",
        { class: "field" },
        h("label", { class: "check" }, animation, " Keep animations"),
        h(
          "p",
          { id: "animation-help", class: "hint" },
          "Animated GIFs and WebPs stay animated (WebP or AVIF output); otherwise the first frame.",
        ),
      ),
      h(
        "div",
        { class: "field" },
        h(
          "label",
          { for: "webhook-url" },
          "Webhook URL ",
          h("span", { class: "optional" }, "optional"),
        ),
        webhook,
        h(
          "p",
          { id: "webhook-help", class: "hint" },
          "We POST a signed message here when every image is finished.",
        ),
      ),
    ),
    errors,
    h("div", { class: "actions" }, submit),
  );
}
