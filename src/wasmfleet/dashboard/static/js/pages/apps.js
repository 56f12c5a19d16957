// Apps: the catalogue (versions, needs by type, parameters), the installs (status, place,
// schedule, where they run), publishing an app and installing one at a place; #/apps/NAME is
// one app with its versions, steps and installs.

import { el, fieldError, fill, heading, statusBadge, table, timeAgo, zoned, debounced } from "../ui.js";
import { installForm } from "../install_form.js";
import { fireInstants, scheduleText, whereChips } from "./install.js";

const EXAMPLE = `name: too-warm
description: Turn the fan on when the room is too warm.
parameters:
  threshold: {type: "float -20..60", default: 26}
  speed: "int 0..3"
needs:
  room_temp: {sensor: temperature}
  room_fan: {controller: fan, exclusive: true}
  logic: {module: too-warm-logic}
steps:
  - module: logic
    function: check
    uses: [room_temp, room_fan]
`;

// needs → [{name, kind, type, exclusive}] from the manifest's form or a normalised one.
export function needRows(needs) {
  const list = Array.isArray(needs) ? needs : Object.entries(needs || {}).map(([name, n]) => ({ name, ...n }));
  return list.map((n) => {
    const kind = n.kind ?? ["sensor", "controller", "module"].find((k) => n[k] !== undefined) ?? "?";
    return { name: n.name, kind, type: n.type ?? n[kind] ?? n.module ?? "", exclusive: Boolean(n.exclusive) };
  });
}

function needChips(needs) {
  const rows = needRows(needs);
  if (!rows.length) return el("span", { class: "muted" }, "–");
  return el("span", { class: "chips" }, rows.map((n) =>
    el("span", { class: `chip need kind-${n.kind}`, title: `${n.name}: ${n.kind} ${n.type}${n.exclusive ? " (exclusive)" : ""}` }, `${n.name}: ${n.kind} ${n.type}${n.exclusive ? ", exclusive" : ""}`)));
}

// parameters → [{name, type, default, required, description}]
function paramRows(parameters) {
  return Object.entries(parameters || {}).map(([name, p]) => (typeof p === "string" ? { name, type: p, required: true } : { name, required: p.default === undefined || p.default === null ? p.required ?? true : false, ...p }));
}

function paramChips(parameters) {
  const rows = paramRows(parameters);
  if (!rows.length) return el("span", { class: "muted" }, "none");
  return el("span", { class: "chips" }, rows.map((p) =>
    el("span", { class: "chip param" }, `${p.name}: ${p.type}${p.default !== undefined && p.default !== null ? ` = ${JSON.stringify(p.default)}` : ""}`)));
}

function nextFire(i) {
  if (!i.schedule) return el("span", { class: "muted" }, "unscheduled");
  const [first] = fireInstants(i.schedule);
  if (!first) return el("span", { class: "muted" }, "no more fires");
  return el("span", { title: `${zoned(first, "UTC")}` }, zoned(first, i.schedule.timezone || "UTC"));
}

export function installsTable(installs, status = {}) {
  return table(
    [
      ["Install", (i) => el("a", { href: `#/installs/${encodeURIComponent(i.name)}`, class: "install-link" }, i.name)],
      ["App", (i) => i.app],
      ["Location", (i) => i.location],
      ["Status", (i) => el("span", {}, statusBadge(i.status), i.reason ? el("span", { class: "reason muted" }, i.reason) : null)],
      ["Schedule", (i) => (i.schedule ? el("code", {}, scheduleText(i.schedule)) : el("span", { class: "muted" }, "none"))],
      ["Next fire", nextFire],
      ["Runs on", (i) => whereChips(i.where, status)],
      ["Owner", (i) => i.owner ?? ""],
    ],
    installs,
    { empty: "No install yet.", rowAttrs: (i) => ({ "data-install": i.name, "data-status": i.status }) },
  );
}

function pushForm(ctx, reload) {
  const text = el("textarea", { name: "manifest", rows: 8, cols: 60, spellcheck: "false" }, EXAMPLE);
  const button = el("button", { type: "submit", class: "primary" }, "Publish");
  const form = el("form", { class: "card push-app" },
    el("h2", {}, "Publish an app"),
    el("label", { class: "field" }, el("span", {}, "App manifest (YAML or JSON; its modules must be stored — a bundle with its .wasm files goes through `wasmfleet app push`)"), text),
    button,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    fieldError(text, null);
    const raw = text.value.trim();
    button.disabled = true;
    try {
      const made = await ctx.api.send("POST", "/api/v1/apps", raw, raw.startsWith("{") ? "application/json" : "application/yaml");
      ctx.toast(`App ${made.name} version ${made.version} published.`, "ok");
      await reload();
    } catch (err) {
      fieldError(text, err.message);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

async function deviceStatus(ctx) {
  if (!ctx.session.can("GET", "/api/v1/devices")) return {};
  const devices = await ctx.api.get("/api/v1/devices");
  return Object.fromEntries(devices.map((d) => [d.name, d.status]));
}

async function catalogue(root, ctx) {
  const apps = el("section", { class: "card catalogue" });
  const installs = el("section", { class: "card installs" });
  root.append(heading("Apps"));
  const form = ctx.session.can("POST", "/api/v1/installs") ? installForm(ctx, { onDone: (made) => { location.hash = `#/installs/${encodeURIComponent(made.name)}`; } }) : null;
  root.append(apps, installs);
  if (form) root.append(form.form);
  if (ctx.session.can("POST", "/api/v1/apps")) root.append(pushForm(ctx, () => load()));
  const load = async () => {
    const [list, inst, locations, status] = await Promise.all([
      ctx.api.get("/api/v1/apps"),
      ctx.api.get("/api/v1/installs"),
      ctx.api.get("/api/v1/locations"),
      deviceStatus(ctx),
    ]);
    fill(apps,
      el("h2", {}, "Catalogue"),
      table(
        [
          ["App", (a) => el("a", { href: `#/apps/${encodeURIComponent(a.name)}`, class: "app-link" }, a.name)],
          ["Version", (a) => `v${a.version}${a.versions > 1 ? ` (of ${a.versions})` : ""}`],
          ["Description", (a) => a.description || el("span", { class: "muted" }, "–")],
          ["Needs", (a) => needChips(a.needs)],
          ["Parameters", (a) => paramChips(a.parameters)],
          ["Installs", (a) => String(a.installs ?? 0)],
          ["Published", (a) => `${timeAgo(a.created_at)}${a.author ? ` by ${a.author}` : ""}`],
        ],
        list,
        { empty: "No app yet. An app developer publishes one with `wasmfleet app push FOLDER`.", rowAttrs: (a) => ({ "data-app": a.name }) },
      ),
    );
    fill(installs, el("h2", {}, ctx.session.role === "end-user" ? "Your installs" : "Installs"), installsTable(inst, status));
    form?.update(list, locations);
  };
  await load();
  return load;
}

async function detail(root, ctx, name) {
  const top = el("div");
  const versionsCard = el("section", { class: "card versions" });
  const go = (made) => { location.hash = `#/installs/${encodeURIComponent(made.name)}`; };
  // made once, so that a live update does not wipe what is being typed
  const form = ctx.session.can("POST", "/api/v1/installs") ? installForm(ctx, { app: name, onDone: go }) : null;
  root.append(top, form ? form.form : "", versionsCard);
  const load = async () => {
    const key = encodeURIComponent(name);
    const [app, versions, inst, locations, status] = await Promise.all([
      ctx.api.get(`/api/v1/apps/${key}`),
      ctx.api.get(`/api/v1/apps/${key}/versions`).catch(() => []),
      ctx.api.get("/api/v1/installs"),
      ctx.api.get("/api/v1/locations"),
      deviceStatus(ctx),
    ]);
    const actions = el("span", { class: "actions" });
    if (ctx.session.can("DELETE", "/api/v1/apps/{key}")) {
      actions.append(el("button", { type: "button", class: "danger", onclick: () => remove(app) }, `Remove v${app.version}`));
    }
    const mine = inst.filter((i) => String(i.app).split("@")[0] === app.name);
    form?.update([app], locations);
    fill(top,
      heading(app.name, el("span", { class: "badge" }, `v${app.version}`), el("span", { class: "muted" }, app.description || ""), actions),
      el("div", { class: "two" },
        el("section", { class: "card needs" }, el("h2", {}, "Needs"), table(
          [
            ["Binding name", (n) => el("code", {}, n.name)],
            ["Kind", (n) => el("span", { class: `badge kind-${n.kind}` }, n.kind)],
            ["Type or module", (n) => (n.kind === "module" ? el("a", { href: `#/modules/${encodeURIComponent(String(app.modules?.[n.name] ?? n.type).split("@")[0])}` }, app.modules?.[n.name] ?? n.type) : n.type)],
            ["", (n) => (n.exclusive ? el("span", { class: "badge exclusive" }, "exclusive") : "")],
          ],
          needRows(app.needs),
          { rowAttrs: (n) => ({ "data-need": n.name }) },
        )),
        el("section", { class: "card parameters" }, el("h2", {}, "Parameters"), table(
          [
            ["Name", (p) => el("code", {}, p.name)],
            ["Type", (p) => el("code", {}, p.type)],
            ["Default", (p) => (p.default !== undefined && p.default !== null ? JSON.stringify(p.default) : el("span", { class: "muted" }, "required"))],
            ["", (p) => p.description ?? ""],
          ],
          paramRows(app.parameters),
          { empty: "No parameter." },
        )),
      ),
      el("section", { class: "card steps" }, el("h2", {}, "Steps"), table(
        [
          ["#", (s) => String(s.i + 1)],
          ["Module need . function", (s) => `${s.module ?? ""}.${s.function ?? ""}`],
          ["Uses", (s) => (s.uses || []).join(", ") || el("span", { class: "muted" }, "–")],
          ["Trigger", (s) => (s.trigger ? el("code", {}, JSON.stringify(s.trigger)) : "")],
        ],
        (app.steps || []).map((s, i) => ({ ...s, i })),
        { empty: "No step." },
      )),
      el("section", { class: "card installs" }, el("h2", {}, "Installs"), installsTable(mine, status)),
    );
    fill(versionsCard, el("h2", {}, "Versions"), table(
      [
        ["Version", (v) => `v${v.version}`],
        ["Published", (v) => `${timeAgo(v.created_at)}${v.author ? ` by ${v.author}` : ""}`],
        ["Key", (v) => el("code", {}, v.key ?? "")],
        ["Installs", (v) => String(v.installs ?? 0)],
      ],
      versions,
      { empty: "Only this version." },
    ));
  };
  const remove = async (app) => {
    if (!confirm(`Remove ${app.name} version ${app.version}?`)) return;
    try {
      await ctx.api.del(`/api/v1/apps/${encodeURIComponent(app.key ?? `${app.name}@${app.version}`)}`);
      ctx.toast(`Removed ${app.name} v${app.version}.`, "ok");
      location.hash = "#/apps";
    } catch (err) {
      ctx.toast(err.message, "error");
    }
  };
  await load();
  return load;
}

export async function render(root, ctx, { name }) {
  const load = name ? await detail(root, ctx, name) : await catalogue(root, ctx);
  const { reload, cancel } = debounced(load, ctx);
  const offs = [
    ctx.events.on("install", reload),
    ctx.events.on("device", (e) => (!e?.heartbeat ? reload() : null)),
    ctx.events.on("reconnected", reload),
  ];
  return () => {
    offs.forEach((off) => off());
    cancel();
  };
}
