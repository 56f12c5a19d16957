// Logs: the recent entries, then a live tail (/api/v1/logs/stream) with filters.

import { follow } from "../events.js";
import { el, fieldError, heading } from "../ui.js";

const LEVELS = ["", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
const RANK = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };
const KEEP = 500;

export function logLine(e) {
  const time = e.time ? new Date(e.time) : new Date();
  const level = String(e.level || "INFO").toUpperCase();
  return el(
    "li",
    { class: `log level-${level.toLowerCase()}`, dataset: { device: e.device || "", id: e.id ?? "" } },
    el("time", { datetime: e.time || "" }, time.toLocaleTimeString()),
    el("span", { class: "level" }, level),
    el("a", { class: "device", href: `#/devices/${encodeURIComponent(e.device || "")}` }, e.device || "?"),
    el("span", { class: "message" }, e.message || ""),
  );
}

function deploymentOf(e) {
  const d = e.data || {};
  return d.deployment || d.deploymentId || d.deployment_id || "";
}

function matches(e, f) {
  if (f.device && e.device !== f.device) return false;
  if (f.level && (RANK[String(e.level).toUpperCase()] || 0) < RANK[f.level]) return false;
  if (f.deployment && deploymentOf(e) !== f.deployment) return false;
  return !f.q || String(e.message || "").toLowerCase().includes(f.q.toLowerCase());
}

export async function render(root, ctx, params) {
  const devices = await ctx.api.get("/api/v1/devices");
  const device = el("select", { name: "device" }, el("option", { value: "" }, "all devices"), devices.map((d) => el("option", { value: d.name }, d.name)));
  const level = el("select", { name: "level" }, LEVELS.map((l) => el("option", { value: l }, l ? `${l} and worse` : "any level")));
  const deployment = el("input", { name: "deployment", placeholder: "deployment name or id" });
  const q = el("input", { name: "q", type: "search", placeholder: "text in the message" });
  const pause = el("button", { type: "button" }, "Pause");
  const state = el("span", { class: "muted live-state" }, "connecting…");
  device.value = params.device || "";
  level.value = params.level || "";
  deployment.value = params.deployment || "";
  q.value = params.q || "";
  const form = el(
    "form",
    { class: "filters", onsubmit: (e) => e.preventDefault() },
    el("label", { class: "field" }, el("span", {}, "Device"), device),
    el("label", { class: "field" }, el("span", {}, "Level"), level),
    el("label", { class: "field" }, el("span", {}, "Deployment"), deployment),
    el("label", { class: "field" }, el("span", {}, "Contains"), q),
    pause,
    state,
  );
  const list = el("ol", { class: "log-lines tail" });
  root.append(heading("Logs"), form, list);

  let stream = null;
  let paused = false;
  let held = [];
  const filters = () => ({ device: device.value, level: level.value, deployment: deployment.value.trim(), q: q.value.trim() });

  const add = (e) => {
    list.querySelector(".empty")?.remove();
    list.prepend(logLine(e));
    while (list.children.length > KEEP) list.lastChild.remove();
  };

  const start = async () => {
    stream?.stop();
    fieldError(q, null);
    fieldError(level, null);
    const f = filters();
    const query = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
    history.replaceState(null, "", `#/logs${query.toString() ? "?" + query : ""}`);
    const recent = await ctx.api.get(`/api/v1/logs?limit=1000${f.device ? "&device=" + encodeURIComponent(f.device) : ""}`);
    const shown = recent.filter((e) => matches(e, f)).slice(-200).reverse();
    list.replaceChildren(...shown.map(logLine));
    if (!shown.length) list.append(el("li", { class: "muted empty" }, "No entries match yet; new ones appear here as they arrive."));
    stream = follow(`/api/v1/logs/stream?${query}`, {
      onOpen: () => (state.textContent = "live"),
      onLost: (msg) => (state.textContent = msg),
      onRefused: (msg, status, error) => {
        state.textContent = "stopped";
        const field = { q, level, device, deployment }[/^'(\w+)'/.exec(msg)?.[1]] || null;
        if (field) fieldError(field, msg);
        else ctx.toast(msg, "error");
      },
      onEvent: (kind, e) => {
        if (kind !== "log") return;
        if (paused) held.push(e);
        else add(e);
      },
    });
  };

  let typing = null;
  const restart = () => {
    clearTimeout(typing);
    stream?.stop(); // the old filters no longer hold
    stream = null;
    state.textContent = "connecting…";
    typing = setTimeout(() => start().catch((err) => ctx.toast(err.message, "error")), 300);
  };
  for (const input of [device, level]) input.addEventListener("change", restart);
  for (const input of [deployment, q]) input.addEventListener("input", restart);
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? `Resume` : "Pause";
    if (!paused) {
      held.forEach(add);
      held = [];
    }
  });
  await start();
  return () => {
    clearTimeout(typing);
    stream?.stop();
  };
}
