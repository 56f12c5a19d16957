// Places: the location tree, each location with its sensors and controllers (type, how it is
// reached, typed parameters, the installs holding it); a configurer adds and removes them.

import { el, fieldError, fill, heading, paramChips, table, debounced } from "../ui.js";

const KINDS = { sensor: "/api/v1/sensors", controller: "/api/v1/controllers" };

// A location path in a URL: each segment encoded, the slashes kept ({path:path} routes).
export function locationUrl(path) {
  return `/api/v1/locations/${path.split("/").map(encodeURIComponent).join("/")}`;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

// How a thing is reached: the device it is attached to, or its MQTT topic.
export function via(t) {
  if (t.device) return el("span", { class: "via" }, "device ", el("a", { href: `#/devices/${encodeURIComponent(t.device)}` }, t.device));
  if (t.topic) return el("span", { class: "via" }, "topic ", el("code", {}, t.topic));
  return el("span", { class: "muted" }, "–");
}

export function heldBy(t) {
  const holders = t.held_by || [];
  if (!holders.length) return el("span", { class: "muted" }, "free");
  return el("span", { class: "chips" }, holders.map((h) => {
    const name = typeof h === "string" ? h : h.install || h.name;
    const exclusive = typeof h === "object" && h.exclusive;
    return el("a", { class: `chip held${exclusive ? " exclusive" : ""}`, href: `#/installs/${encodeURIComponent(name)}`, title: exclusive ? "held exclusively" : "shared" }, name);
  }));
}

// The devices whose `location` label puts them here or below (the API's `devices`).
function devicesHere(loc) {
  const names = loc.devices || [];
  if (!names.length) return null;
  const links = names.flatMap((n, i) => [i ? ", " : "", el("a", { href: `#/devices/${encodeURIComponent(n)}` }, n)]);
  return el("span", { class: "place-devices muted small" }, ` · ${names.length === 1 ? "device" : "devices"} `, ...links);
}

// "campus/lab-1" → its counts of sensors and controllers at or below (the API's, else ours).
function counts(loc, things) {
  const below = (t) => t.location === loc.path || t.location.startsWith(`${loc.path}/`);
  const n = (kind) => loc[`${kind}s`] ?? loc.counts?.[`${kind}s`] ?? things.filter((t) => t.kind === kind && below(t)).length;
  return `${plural(n("sensor"), "sensor")} · ${plural(n("controller"), "controller")}`;
}

function thingsTable(ctx, things, reload) {
  const columns = [
    ["Name", (t) => el("strong", {}, t.name)],
    ["Kind", (t) => el("span", { class: `badge kind-${t.kind}` }, t.kind)],
    ["Type", (t) => t.type],
    ["Reached via", via],
    ["Parameters", (t) => el("span", {}, el("span", { class: "muted small" }, t.kind === "sensor" ? "outputs " : "inputs "), paramChips(t.outputs || t.inputs))],
    ["Held by", heldBy],
  ];
  if (Object.values(KINDS).some((p) => ctx.session.can("DELETE", `${p}/{name}`))) {
    columns.push(["", (t) => ctx.session.can("DELETE", `${KINDS[t.kind]}/{name}`)
      ? el("button", { type: "button", class: "danger small-button", onclick: () => removeThing(ctx, t, reload) }, "Remove")
      : ""]);
  }
  const grid = table(columns, things, { rowAttrs: (t) => ({ "data-thing": t.name, "data-kind": t.kind }) });
  grid.classList.add("things"); // one column width in every location's table
  return grid;
}

async function removeThing(ctx, t, reload) {
  if (!confirm(`Remove ${t.kind} ${t.name}?`)) return;
  try {
    await ctx.api.del(`${KINDS[t.kind]}/${encodeURIComponent(t.name)}`);
    ctx.toast(`Removed ${t.kind} ${t.name}.`, "ok");
  } catch (err) {
    ctx.toast(err.message, "error");
  }
  await reload();
}

async function removeLocation(ctx, path, reload) {
  if (!confirm(`Remove location ${path}?`)) return;
  try {
    await ctx.api.del(locationUrl(path));
    ctx.toast(`Removed location ${path}.`, "ok");
  } catch (err) {
    ctx.toast(err.message, "error");
  }
  await reload();
}

// One location (a <details>), its things, then its children, nested.
function node(ctx, loc, byParent, things, reload) {
  const here = things.filter((t) => t.location === loc.path);
  const children = byParent.get(loc.path) || [];
  const name = loc.path.split("/").pop();
  return el(
    "details",
    { class: "place", open: true, dataset: { location: loc.path } },
    el(
      "summary",
      {},
      el("span", { class: "place-name" }, name),
      loc.path !== name ? el("span", { class: "muted small" }, ` ${loc.path}`) : null,
      loc.description ? el("span", { class: "place-desc" }, ` — ${loc.description}`) : null,
      el("span", { class: "place-counts muted small" }, counts(loc, things)),
      devicesHere(loc),
      ctx.session.can("DELETE", "/api/v1/locations/{path}")
        ? el("button", { type: "button", class: "link-danger", title: `remove ${loc.path}`, onclick: (e) => { e.preventDefault(); removeLocation(ctx, loc.path, reload); } }, "remove")
        : null,
    ),
    here.length ? thingsTable(ctx, here, reload) : null,
    children.length ? el("div", { class: "place-children" }, children.map((c) => node(ctx, c, byParent, things, reload))) : null,
  );
}

function parentOf(path) {
  const cut = path.lastIndexOf("/");
  return cut < 0 ? null : path.slice(0, cut);
}

function locationForm(ctx, reload) {
  const path = el("input", { name: "path", placeholder: "campus/lab-1", required: true, autocomplete: "off" });
  const description = el("input", { name: "description", placeholder: "what is there (optional)" });
  const form = el(
    "form",
    { class: "card add-location" },
    el("h2", {}, "Add a location"),
    el("div", { class: "row" },
      el("label", { class: "field" }, el("span", {}, "Path (parents are made too)"), path),
      el("label", { class: "field" }, el("span", {}, "Description"), description),
      el("button", { type: "submit", class: "primary" }, "Add"),
    ),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    fieldError(path, null);
    try {
      await ctx.api.post("/api/v1/locations", { path: path.value.trim(), description: description.value.trim() });
      ctx.toast(`Location ${path.value.trim()} added.`, "ok");
      form.reset();
    } catch (err) {
      fieldError(path, err.message);
    }
    await reload();
  });
  return form;
}

// "celsius=float, humidity=float" or one per line → {celsius: "float", humidity: "float"}.
function parseParams(text) {
  const out = {};
  for (const part of text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean)) {
    const cut = part.indexOf("=");
    if (cut < 1) throw new Error(`Write each parameter as name=type (like celsius=float or speed=int 0..3), got '${part}'.`);
    out[part.slice(0, cut).trim()] = part.slice(cut + 1).trim();
  }
  return out;
}

// The form, and a function to refresh its locations (keeping what is typed and picked).
function thingForm(ctx, reload) {
  const kind = el("select", { name: "kind" }, el("option", { value: "sensor" }, "sensor"), el("option", { value: "controller" }, "controller"));
  const name = el("input", { name: "name", placeholder: "lab-temp", required: true, autocomplete: "off" });
  const type = el("input", { name: "type", placeholder: "temperature", required: true, autocomplete: "off" });
  const where = el("select", { name: "location" });
  const setLocations = (locations) => {
    const picked = where.value;
    fill(where, locations.map((l) => el("option", { value: l.path, selected: l.path === picked }, l.path)));
    form.hidden = !locations.length; // a thing sits at a location: add one first
  };
  const how = el("select", { name: "via" }, el("option", { value: "topic" }, "MQTT topic"), el("option", { value: "device" }, "device"));
  const target = el("input", { name: "target", placeholder: "campus/lab-1/temp", required: true, autocomplete: "off" });
  const params = el("input", { name: "params", placeholder: "celsius=float", size: 28 });
  const paramsLabel = el("span", {}, "Outputs (name=type, …)");
  kind.addEventListener("change", () => {
    paramsLabel.textContent = kind.value === "sensor" ? "Outputs (name=type, …)" : "Inputs (name=type, …)";
    params.placeholder = kind.value === "sensor" ? "celsius=float" : "speed=int 0..3";
  });
  how.addEventListener("change", () => { target.placeholder = how.value === "topic" ? "campus/lab-1/temp" : "edge-box"; });
  const fields = { name, type, location: where, topic: target, device: target, outputs: params, inputs: params };
  const form = el(
    "form",
    { class: "card add-thing" },
    el("h2", {}, "Register a sensor or controller"),
    el("div", { class: "row" },
      el("label", { class: "field" }, el("span", {}, "Kind"), kind),
      el("label", { class: "field" }, el("span", {}, "Name"), name),
      el("label", { class: "field" }, el("span", {}, "Type"), type),
      el("label", { class: "field" }, el("span", {}, "Location"), where),
      el("label", { class: "field" }, el("span", {}, "Reached via"), how),
      el("label", { class: "field" }, el("span", {}, "Topic or device"), target),
      el("label", { class: "field" }, paramsLabel, params),
      el("button", { type: "submit", class: "primary" }, "Register"),
    ),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    Object.values(fields).forEach((f) => fieldError(f, null));
    const doc = { kind: kind.value, name: name.value.trim(), type: type.value.trim(), location: where.value, [how.value]: target.value.trim() };
    try {
      doc[kind.value === "sensor" ? "outputs" : "inputs"] = parseParams(params.value);
    } catch (err) {
      fieldError(params, err.message);
      return;
    }
    try {
      await ctx.api.post(KINDS[kind.value], doc);
      ctx.toast(`${doc.kind} ${doc.name} registered at ${doc.location}.`, "ok");
      form.reset();
    } catch (err) {
      const named = Object.keys(fields).find((f) => (err.field || "") === f || new RegExp(`^'?${f}\\b`).test(err.message));
      fieldError(fields[named] || name, err.message);
    }
    await reload();
  });
  return { form, setLocations };
}

export async function render(root, ctx) {
  const summary = el("p", { class: "muted summary" });
  const tree = el("div", { class: "places" });
  root.append(heading("Places", summary));
  const can = (p) => ctx.session.can("POST", p);
  if (can("/api/v1/locations")) root.append(locationForm(ctx, () => load()));
  const register = can(KINDS.sensor) || can(KINDS.controller) ? thingForm(ctx, () => load()) : null;
  if (register) root.append(register.form);
  root.append(tree);
  const seeThings = ctx.session.can("GET", KINDS.sensor) && ctx.session.can("GET", KINDS.controller);
  const load = async () => {
    const [locations, sensors, controllers] = await Promise.all([
      ctx.api.get("/api/v1/locations"),
      seeThings ? ctx.api.get(KINDS.sensor) : [],
      seeThings ? ctx.api.get(KINDS.controller) : [],
    ]);
    const all = [...sensors.map((t) => ({ kind: "sensor", ...t })), ...controllers.map((t) => ({ kind: "controller", ...t }))];
    locations.sort((a, b) => a.path.localeCompare(b.path));
    const known = new Set(locations.map((l) => l.path));
    const byParent = new Map();
    const roots = [];
    for (const loc of locations) {
      const parent = loc.parent ?? parentOf(loc.path);
      if (parent && known.has(parent)) {
        if (!byParent.has(parent)) byParent.set(parent, []);
        byParent.get(parent).push(loc);
      } else roots.push(loc);
    }
    summary.textContent = `${plural(locations.length, "location")}` +
      (seeThings ? `, ${plural(sensors.length, "sensor")}, ${plural(controllers.length, "controller")}` : "");
    register?.setLocations(locations);
    const closed = [...tree.querySelectorAll("details.place:not([open])")].map((d) => d.dataset.location);
    fill(tree, roots.length
      ? roots.map((loc) => node(ctx, loc, byParent, all, load))
      : el("p", { class: "muted empty" }, "No location yet. A configurer adds one with `wasmfleet location add campus/lab-1`."));
    for (const d of tree.querySelectorAll("details.place")) if (closed.includes(d.dataset.location)) d.open = false;
  };
  await load();
  const { reload, cancel } = debounced(load, ctx);
  // installs take and release things (held by); nothing else here changes on its own
  const offs = ["install", "reconnected"].map((k) => ctx.events.on(k, reload));
  return () => {
    offs.forEach((off) => off());
    cancel();
  };
}
