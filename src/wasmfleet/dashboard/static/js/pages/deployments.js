// Deployments: every deployment with its pipeline in short, rollouts with their waves,
// and a form to deploy a manifest (YAML or JSON).

import { el, fill, fieldError, heading, statusBadge, table, timeAgo, debounced } from "../ui.js";
import { wavesView } from "./deployment.js";

const EXAMPLE = `name: fibo-demo
steps:
  - module: fibo
    function: fibo
`;

function deployForm(ctx, reload) {
  const text = el("textarea", { name: "manifest", rows: 7, cols: 60, spellcheck: "false" }, EXAMPLE);
  const button = el("button", { type: "submit", class: "primary" }, "Deploy");
  const form = el(
    "form",
    { class: "card deploy" },
    el("h2", {}, "Deploy a manifest"),
    el("label", { class: "field" }, el("span", {}, "Manifest (YAML or JSON; see examples/)"), text),
    button,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    fieldError(text, null);
    const raw = text.value.trim();
    const type = raw.startsWith("{") ? "application/json" : "application/yaml";
    button.disabled = true;
    try {
      const made = await ctx.api.send("POST", "/api/v1/deployments", raw, type);
      ctx.toast(`Deployment ${made.name} is ${made.status}.`, "ok");
      await reload();
      location.hash = `#/deployments/${encodeURIComponent(made.name)}`;
    } catch (err) {
      fieldError(text, err.message);
      await reload().catch(() => {});
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function pipeline(d) {
  const steps = new Map();
  for (const s of d.plan?.steps || []) {
    const entry = steps.get(s.step) || { label: s.module ? `${s.module}.${s.function}` : "bridge", devices: [] };
    entry.devices.push(s.device);
    steps.set(s.step, entry);
  }
  if (!steps.size) return el("span", { class: "muted" }, d.error || "not placed");
  return el("span", { class: "mini-pipeline" }, [...steps.values()].map((s, i) => [i ? el("span", { class: "arrow" }, "→") : null, el("span", { class: "chip" }, `${s.label} @ ${s.devices.join(", ")}`)]));
}

export async function render(root, ctx) {
  const list = el("div");
  const rollouts = el("section", { class: "card" });
  root.append(heading("Deployments"));
  if (ctx.session.can("POST", "/api/v1/deployments")) root.append(deployForm(ctx, () => load()));
  root.append(list, rollouts);
  const load = async () => {
    const [deps, outs] = await Promise.all([ctx.api.get("/api/v1/deployments"), ctx.api.get("/api/v1/rollouts")]);
    list.replaceChildren(
      table(
        [
          ["Deployment", (d) => el("a", { href: `#/deployments/${encodeURIComponent(d.name)}`, class: "deployment-link" }, d.name)],
          ["Status", (d) => statusBadge(d.status)],
          ["Pipeline", pipeline],
          ["Epoch", (d) => d.epoch],
          ["Moves", (d) => (d.moves || []).length || ""],
          ["Updated", (d) => timeAgo(d.updated_at)],
        ],
        deps,
        { empty: "No deployment yet.", rowAttrs: (d) => ({ "data-deployment": d.name, "data-status": d.status }) },
      ),
    );
    fill(rollouts,
      el("h2", {}, "Rollouts"),
      outs.length
        ? outs.slice(-10).reverse().map((r) => wavesView(r))
        : el("p", { class: "muted empty" }, "No rollout yet (wasmfleet rollout start DEPLOYMENT MODULE@VERSION)."),
    );
  };
  await load();
  const { reload, cancel } = debounced(load, ctx);
  const offs = ["deployment", "rollout", "reconnected"].map((k) => ctx.events.on(k, reload));
  return () => {
    offs.forEach((off) => off());
    cancel();
  };
}
