// Fleet: every device with its status (live), labels, capacity and usage, last heartbeat, messages.

import { el, heading, labelChips, meter, statusBadge, table, timeAgo } from "../ui.js";

export function usageOf(device) {
  const h = device.health || {};
  return {
    cpu: h.cpu ?? h.cpuUsage ?? null,
    memory: h.memory ?? h.memoryUsage ?? null,
    memory_used_mb: h.memory_used_mb ?? null,
  };
}

export function capacityText(c) {
  if (!c) return "–";
  const cores = (c.cores || []).length;
  const parts = [`${cores} core${cores === 1 ? "" : "s"}`];
  if (c.memory_mb) parts.push(`${c.memory_mb} MiB`);
  if (c.accelerator_pct) parts.push(`accel ${c.accelerator_pct} %`);
  return parts.join(" · ");
}

function messages(device) {
  const s = device.streams;
  if (!s || !Object.keys(s).length) return el("span", { class: "muted" }, "–");
  return el("span", { class: "chips" }, Object.entries(s).map(([k, v]) => el("span", { class: "chip", title: k }, `${k} ${v}`)));
}

export async function render(root, ctx) {
  const body = el("div", { class: "fleet-body" });
  const summary = el("p", { class: "muted summary" });
  root.append(heading("Fleet", summary), body);
  let devices = [];

  const draw = () => {
    const counts = {};
    for (const d of devices) counts[d.status] = (counts[d.status] || 0) + 1;
    summary.textContent = `${devices.length} device${devices.length === 1 ? "" : "s"}` +
      (devices.length ? ": " + Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ") : "");
    body.replaceChildren(
      table(
        [
          ["Device", (d) => el("a", { href: `#/devices/${encodeURIComponent(d.name)}`, class: "device-link" }, d.name)],
          ["Status", (d) => el("span", {}, statusBadge(d.status), d.reason ? el("span", { class: "reason muted" }, d.reason) : null)],
          ["Labels", (d) => labelChips(d.labels)],
          ["Capacity", (d) => capacityText(d.capacity)],
          ["CPU", (d) => meter(usageOf(d).cpu, "CPU")],
          ["Memory", (d) => meter(usageOf(d).memory, "memory")],
          ["Last heartbeat", (d) => el("time", { datetime: d.last_seen || "", class: "ago" }, timeAgo(d.last_seen))],
          ["Messages", messages],
        ],
        devices,
        {
          empty: "No device has registered yet. Start one with `wasmfleet supervisor --orchestrator URL`.",
          rowAttrs: (d) => ({ "data-device": d.name, "data-status": d.status }),
        },
      ),
    );
  };

  const load = async () => {
    devices = await ctx.api.get("/api/v1/devices");
    draw();
  };
  await load();

  let pending = null;
  const reloadSoon = () => {
    clearTimeout(pending);
    pending = setTimeout(() => load().catch((err) => ctx.toast(err.message, "error")), 200);
  };
  const offDevice = ctx.events.on("device", (e) => {
    const known = devices.find((d) => d.name === e.name);
    if (e.heartbeat && known) {
      known.health = { ...(known.health || {}), ...(e.usage || {}) };
      known.last_seen = new Date().toISOString();
      draw();
    } else reloadSoon();
  });
  const offAgain = ctx.events.on("reconnected", reloadSoon);
  const tick = setInterval(() => {
    for (const t of root.querySelectorAll("time.ago")) t.textContent = timeAgo(t.getAttribute("datetime") || null);
  }, 5000);
  return () => {
    offDevice();
    offAgain();
    clearInterval(tick);
    clearTimeout(pending);
  };
}
