// Small DOM helpers shared by every page (the shell contract: el, fieldError, statusBadge, timeAgo).

// el("div", {class: "x", onclick: fn}, "text", child, [more]) — attributes, events, children.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

// Replace a node's children (null, false and nested arrays are skipped, as in el).
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Show the API's sentence next to a field (and mark it invalid); null clears it.
export function fieldError(input, message) {
  if (!input) return;
  const holder = input.closest("label, .field") || input.parentElement;
  if (!holder) return; // not on the page
  let note = holder.querySelector(":scope > .field-error");
  if (!message) {
    input.removeAttribute("aria-invalid");
    if (note) note.remove();
    return;
  }
  input.setAttribute("aria-invalid", "true");
  if (!note) {
    note = el("span", { class: "field-error", role: "alert" });
    holder.append(note);
  }
  note.textContent = message;
}

// A coloured pill for a device, deployment, rollout or execution status.
export function statusBadge(status) {
  const text = status === true ? "ok" : status === false ? "failed" : String(status ?? "unknown");
  return el("span", { class: `badge status-${text.replace(/[^a-z_-]/gi, "")}`, title: text }, text);
}

// "12 s ago", "3 min ago", "2 h ago", "5 d ago" from an ISO time, a Date or Unix seconds.
export function timeAgo(t) {
  if (t === null || t === undefined || t === "") return "never";
  const when = t instanceof Date ? t : typeof t === "number" ? new Date(t * 1000) : new Date(t);
  if (Number.isNaN(when.getTime())) return String(t);
  const s = Math.round((Date.now() - when.getTime()) / 1000);
  if (s < 0) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function bytes(n) {
  if (typeof n !== "number") return "–";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function pct(x) {
  return typeof x === "number" && Number.isFinite(x) ? `${Math.round(x * (x <= 1 ? 100 : 1))} %` : "–";
}

// A table from rows: columns [[heading, row => cell]]; empty → a sentence.
export function table(columns, rows, { empty = "Nothing yet.", rowAttrs } = {}) {
  if (!rows.length) return el("p", { class: "muted empty" }, empty);
  return el(
    "table",
    { class: "grid" },
    el("thead", {}, el("tr", {}, columns.map(([h]) => el("th", {}, h)))),
    el("tbody", {}, rows.map((r) => el("tr", rowAttrs ? rowAttrs(r) : {}, columns.map(([, f]) => el("td", {}, f(r)))))),
  );
}

export function labelChips(labels) {
  const entries = Object.entries(labels || {});
  if (!entries.length) return el("span", { class: "muted" }, "–");
  return el("span", { class: "chips" }, entries.map(([k, v]) => el("span", { class: "chip" }, `${k}=${v}`)));
}

// A meter bar for a fraction 0..1 (or percent 0..100) of use.
export function meter(value, title) {
  if (typeof value !== "number" || !Number.isFinite(value)) return el("span", { class: "muted" }, "–");
  const frac = value > 1 ? value / 100 : value;
  const level = frac > 0.85 ? "high" : frac > 0.6 ? "mid" : "low";
  return el(
    "span",
    { class: "meter", title: `${title}: ${Math.round(frac * 100)} %` },
    el("span", { class: `fill ${level}`, style: { width: `${Math.min(100, Math.round(frac * 100))}%` } }),
    el("span", { class: "meter-text" }, `${Math.round(frac * 100)} %`),
  );
}

export function errorBox(err) {
  return el("p", { class: "error", role: "alert" }, err && err.message ? err.message : String(err));
}

export function heading(text, ...extra) {
  return el("div", { class: "page-head" }, el("h1", {}, text), ...extra);
}

// Typed parameters as chips: {celsius: "float"} → "celsius: float".
export function paramChips(params) {
  const entries = Object.entries(params || {});
  if (!entries.length) return el("span", { class: "muted" }, "–");
  return el("span", { class: "chips" }, entries.map(([k, v]) => el("span", { class: "chip param" }, `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)));
}

// An instant on a named zone's clock: "2025-03-30 04:00 EEST" (UTC when zone is "UTC").
export function zoned(t, zone = "UTC") {
  const when = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(when.getTime())) return String(t ?? "–");
  let parts;
  try {
    parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
    }).formatToParts(when);
  } catch {
    return when.toISOString();
  }
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${p.timeZoneName}`;
}

// A reload that waits for a burst of live events to settle (one redraw per burst); errors
// become toasts. cancel() when the page is left.
export function debounced(fn, ctx, ms = 200) {
  let soon = null;
  return {
    reload: () => {
      clearTimeout(soon);
      soon = setTimeout(() => fn().catch((err) => ctx.toast(err.message, "error")), ms);
    },
    cancel: () => clearTimeout(soon),
  };
}
