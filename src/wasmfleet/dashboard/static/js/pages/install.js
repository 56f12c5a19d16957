// One install of an app at a place: its binding (need → thing), where it runs (step → device),
// its schedule with the next fires in UTC and in its zone, recent fires; run and uninstall.

import { el, errorBox, fill, heading, statusBadge, table, timeAgo, zoned, debounced } from "../ui.js";

// need → {kind, type, thing, location, exclusive} or {kind: "module", module}, whatever the
// answer nests it in (a Binding's {"bindings": {...}} or the map itself).
export function bindingRows(binding) {
  const map = binding?.bindings ?? binding ?? {};
  return Object.entries(map).map(([need, b]) => ({ need, ...(typeof b === "string" ? { kind: "module", module: b } : b) }));
}

export function boundTo(b) {
  if (b.kind === "module") {
    const ref = b.module || b.ref || "";
    return el("a", { href: `#/modules/${encodeURIComponent(ref.split("@")[0])}`, class: "bound" }, ref);
  }
  return el("span", { class: "bound" }, el("strong", {}, b.thing ?? b.name ?? "?"));
}

export function bindingView(binding) {
  return table(
    [
      ["Need", (b) => el("code", {}, b.need)],
      ["Kind", (b) => el("span", { class: `badge kind-${b.kind}` }, b.kind)],
      ["Bound to", boundTo],
      ["Type", (b) => b.type ?? ""],
      ["Location", (b) => (b.location ? el("a", { href: "#/places" }, b.location) : "")],
      ["", (b) => (b.exclusive ? el("span", { class: "badge exclusive", title: "no other install may use it" }, "exclusive") : b.kind === "module" ? "" : el("span", { class: "muted small" }, "shared"))],
    ],
    bindingRows(binding),
    { empty: "Nothing bound.", rowAttrs: (b) => ({ "data-need": b.need, "data-bound": b.thing ?? b.module ?? "" }) },
  );
}

// where → [{step, label, devices}]: the API lists each placed copy ({step, module, function,
// device}); copies of one step are grouped.
export function whereRows(where) {
  const steps = new Map();
  for (const [i, w] of (Array.isArray(where) ? where : []).entries()) {
    const step = w.step ?? i;
    if (!steps.has(step)) steps.set(step, { step, label: w.module ? `${w.module}${w.version ? `@${w.version}` : ""}.${w.function ?? ""}` : `step ${step + 1}`, devices: [] });
    if (w.device && !steps.get(step).devices.includes(w.device)) steps.get(step).devices.push(w.device);
  }
  return [...steps.values()].sort((a, b) => a.step - b.step);
}

export function whereChips(where, status = {}) {
  const rows = whereRows(where);
  if (!rows.length) return el("span", { class: "muted" }, "not deployed");
  return el("span", { class: "chips where" }, rows.flatMap((r) => r.devices.map((d) =>
    el("a", { class: `chip device-chip status-${status[d] || "unknown"}`, href: `#/devices/${encodeURIComponent(d)}`, dataset: { device: d }, title: `step ${r.label}` }, d))));
}

function whereView(install, status) {
  const rows = whereRows(install.where);
  if (!rows.length) {
    return el("p", { class: "muted empty" }, install.status === "pending" || install.schedule?.mode === "window" ? "Not deployed now: it is deployed when its window opens." : "Not deployed.");
  }
  return el("div", { class: "pipeline" }, rows.map((r, i) => [
    i ? el("div", { class: "pipe-arrow", "aria-hidden": "true" }, "➜") : null,
    el("div", { class: "pipe-step", dataset: { step: r.step } },
      el("div", { class: "pipe-title" }, `${r.step + 1}. ${r.label}`),
      r.devices.map((d) => el("a", { class: `pipe-device status-${status[d] || "unknown"}`, href: `#/devices/${encodeURIComponent(d)}`, dataset: { device: d } },
        el("span", { class: "dot" }), d, el("span", { class: "muted small" }, ` ${status[d] || ""}`))),
    ),
  ]));
}

// The next fires as UTC instants, whatever shape the answer gives them.
export function fireInstants(schedule) {
  const raw = schedule?.next_fires ?? [];
  const list = Array.isArray(raw) ? raw : raw.utc ?? [];
  return list.map((f) => (typeof f === "string" ? f : f.utc ?? f.at ?? f.fire)).filter(Boolean);
}

export function scheduleText(s) {
  if (!s) return "none: deployed now, running";
  const parts = [`${s.cron} (${s.timezone})`, s.mode === "window" ? `window ${s.duration ?? ""}` : "run"];
  if (s.count) parts.push(`at most ${s.count} run${s.count === 1 ? "" : "s"}`);
  return parts.join(" · ");
}

function scheduleView(s, fired) {
  if (!s) return el("p", { class: "muted" }, "No schedule: deployed at install, running until uninstalled.");
  const zone = s.timezone || "UTC";
  const fires = fireInstants(s);
  return el("div", {},
    el("dl", { class: "facts" },
      el("dt", {}, "cron"), el("dd", {}, el("code", {}, s.cron), el("span", { class: "muted" }, ` on the clock of ${zone}`)),
      el("dt", {}, "mode"), el("dd", {}, s.mode === "window" ? `window: deployed for ${s.duration} from each fire` : `run ${s.function ? `${s.function} ` : ""}at each fire`),
      s.start ? [el("dt", {}, "start"), el("dd", {}, `${zoned(s.start, "UTC")} · ${zoned(s.start, zone)}`)] : null,
      s.end ? [el("dt", {}, "end"), el("dd", {}, `${zoned(s.end, "UTC")} · ${zoned(s.end, zone)}`)] : null,
      el("dt", {}, "runs"), el("dd", {}, s.count ? `${fired ?? 0} of ${s.count}` : String(fired ?? 0)),
      el("dt", {}, "missed fires"), el("dd", {}, s.missed === "skip" ? "skipped" : "the latest runs once"),
    ),
    el("h3", {}, "Next fires"),
    table(
      [
        ["UTC", (t) => el("time", { datetime: t }, zoned(t, "UTC"))],
        [zone, (t) => zoned(t, zone)],
      ],
      fires,
      { empty: "No more fires: the schedule has finished.", rowAttrs: (t) => ({ class: "next-fire", "data-utc": t }) },
    ),
  );
}

function firesView(fires, zone) {
  const at = (f) => f.fire_at ?? f.fire_utc ?? f.at;
  return table(
    [
      ["Fire", (f) => (at(f) ? `${zoned(at(f), "UTC")} · ${zoned(at(f), zone)}` : f.key ?? "")],
      ["Outcome", (f) => statusBadge(f.outcome ?? "running")],
      ["Detail", (f) => f.detail ?? ""],
      ["Claimed by", (f) => f.claimed_by ?? ""],
      ["Claimed", (f) => timeAgo(f.claimed_at ?? at(f))],
    ],
    fires,
    { empty: "No fire yet.", rowAttrs: (f) => ({ class: "fire", "data-outcome": f.outcome ?? "" }) },
  );
}

function paramsText(params) {
  const entries = Object.entries(params || {});
  return entries.length ? el("code", {}, entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ")) : el("span", { class: "muted" }, "defaults");
}

export async function render(root, ctx, { name }) {
  const path = `/api/v1/installs/${encodeURIComponent(name)}`;
  let deployment = null;
  const draw = async () => {
    const seeDevices = ctx.session.can("GET", "/api/v1/devices");
    const [inst, devices, fires] = await Promise.all([
      ctx.api.get(path),
      seeDevices ? ctx.api.get("/api/v1/devices") : [],
      ctx.session.can("GET", "/api/v1/installs/{name}/fires") ? ctx.api.get(`${path}/fires`).catch(() => []) : [],
    ]);
    const status = Object.fromEntries(devices.map((d) => [d.name, d.status]));
    deployment = inst.deployment?.name ?? inst.deployment ?? null;
    const actions = el("span", { class: "actions" });
    if (ctx.session.can("POST", "/api/v1/installs/{name}/run")) actions.append(el("button", { type: "button", class: "run", onclick: run }, "Run now"));
    if (ctx.session.can("DELETE", "/api/v1/installs/{name}")) actions.append(el("button", { type: "button", class: "danger uninstall", onclick: uninstall }, "Uninstall"));
    const canSeeDeployment = ctx.session.can("GET", "/api/v1/deployments/{key}");
    fill(root,
      heading(inst.name, statusBadge(inst.status), el("span", { class: "muted" }, `${inst.app} at ${inst.location}`), actions),
      inst.reason ? (inst.status === "failed" ? errorBox({ message: inst.reason }) : el("p", { class: "muted reason-line" }, inst.reason)) : null,
      el("section", { class: "card facts-card" },
        el("dl", { class: "facts" },
          el("dt", {}, "app"), el("dd", {}, el("a", { href: `#/apps/${encodeURIComponent(String(inst.app).split("@")[0])}` }, inst.app), inst.version ? ` v${inst.version}` : ""),
          el("dt", {}, "location"), el("dd", {}, el("a", { href: "#/places" }, inst.location)),
          el("dt", {}, "owner"), el("dd", {}, inst.owner ?? "–"),
          el("dt", {}, "parameters"), el("dd", {}, paramsText(inst.params)),
          el("dt", {}, "deployment"), el("dd", {}, deployment ? (canSeeDeployment ? el("a", { href: `#/deployments/${encodeURIComponent(deployment)}` }, deployment) : deployment) : el("span", { class: "muted" }, "none now")),
          inst.created_at ? [el("dt", {}, "installed"), el("dd", {}, timeAgo(inst.created_at))] : null,
        ),
      ),
      el("section", { class: "card binding" }, el("h2", {}, "Binding"), bindingView(inst.binding)),
      el("section", { class: "card where" }, el("h2", {}, "Where it runs"), whereView(inst, status)),
      el("section", { class: "card schedule" }, el("h2", {}, "Schedule"), scheduleView(inst.schedule, inst.fired)),
      el("section", { class: "card fires" }, el("h2", {}, "Recent fires"), firesView(fires, inst.schedule?.timezone || "UTC")),
    );
  };

  async function run() {
    try {
      const done = await ctx.api.post(`${path}/run`, {});
      const outcome = done?.outcome ?? "done";
      ctx.toast(`Ran ${name}: ${outcome}${done?.detail ? ` — ${done.detail}` : ""}`, outcome === "ok" ? "ok" : "error");
    } catch (err) {
      ctx.toast(err.message, "error");
    }
    await draw().catch((err) => ctx.toast(err.message, "error"));
  }

  async function uninstall() {
    if (!confirm(`Uninstall ${name}? Its deployment is removed and its things are released.`)) return;
    try {
      await ctx.api.del(path);
      ctx.toast(`Uninstalled ${name}.`, "ok");
      location.hash = "#/apps";
    } catch (err) {
      ctx.toast(err.message, "error");
    }
  }

  await draw();
  const { reload, cancel } = debounced(draw, ctx);
  const offs = [
    ctx.events.on("install", (e) => (!e?.name || e.name === name ? reload() : null)),
    ctx.events.on("deployment", (e) => (e?.name === deployment ? reload() : null)),
    ctx.events.on("device", (e) => (!e?.heartbeat ? reload() : null)),
    ctx.events.on("reconnected", reload),
  ];
  // without the event stream (an end user) the page looks again every few seconds
  const poll = ctx.session.can("GET", "/api/v1/events") ? null : setInterval(reload, 5000);
  return () => {
    offs.forEach((off) => off());
    cancel();
    clearInterval(poll);
  };
}
