// One deployment: the pipeline drawn as steps on devices, why other devices were rejected,
// steps moved by self-healing, rollouts with their waves, recent executions.

import { el, fill, errorBox, heading, statusBadge, table, timeAgo, debounced } from "../ui.js";

const FINISHED = ["succeeded", "failed", "undone", "rolled_back"];

// What one wave of a rollout is at: its gate decides, else where the rollout stands.
function waveState(r, i, devices, gate) {
  if (gate) return gate.passed ? "passed" : "failed";
  if (devices.length && devices.every((d) => r.skipped?.[d])) return "skipped";
  if (i < r.wave) return "passed";
  if (FINISHED.includes(r.status)) {
    const touched = devices.some((d) => r.updated?.[d]);
    return i === r.wave && touched && r.status !== "succeeded" ? "stopped" : "not reached";
  }
  if (i > r.wave || r.status === "pending") return "waiting";
  if (r.status === "paused") return "paused";
  if (["rolling_back", "undoing"].includes(r.status)) return "putting back";
  return devices.every((d) => r.updated?.[d] || r.skipped?.[d]) ? "observing" : "updating";
}

// A device of a wave: updated (green), put back, owed its old version, skipped, or not yet.
function waveChip(r, d) {
  const u = r.updated?.[d];
  const [kind, why] = r.owed?.[d]
    ? ["owed", `owed its previous version: ${r.owed[d].reason || "down"}`]
    : r.skipped?.[d]
      ? ["skipped", `skipped: ${r.skipped[d]}`]
      : u?.back
        ? ["back", "put back on the previous version"]
        : u
          ? ["updated", `updated ${timeAgo(u.at)}`]
          : ["", "not updated yet"];
  return el("span", { class: `chip ${kind}`, title: why, dataset: { device: d } }, d);
}

function options(o = {}) {
  const sizes = (o.waves || []).length ? `waves ${o.waves.join(",")}` : `canary ${o.canary ?? 1}, growth ×${o.growth ?? 2}`;
  return `${sizes} · pause ${o.pause_s ?? 10} s`;
}

// A rollout: its status, then one box per wave with its devices, its state and its gate.
export function wavesView(r) {
  const waves = r.waves || [];
  const gates = new Map((r.gates || []).map((g) => [g.wave, g]));
  const ended = r.finished_at ? `, ended ${timeAgo(r.finished_at)}` : "";
  return el(
    "div",
    { class: "rollout", dataset: { rollout: r.id, status: r.status } },
    el(
      "div",
      { class: "rollout-head" },
      statusBadge(r.status),
      el("strong", {}, ` ${r.deployment} → ${r.to}`),
      el("span", { class: "muted small" }, ` ${options(r.options)} · started ${timeAgo(r.created_at)}${ended}`),
    ),
    r.reason ? el("p", { class: `rollout-reason ${r.status === "succeeded" ? "muted" : "bad"}` }, r.reason) : null,
    el(
      "ol",
      { class: "waves" },
      waves.map((devices, i) => {
        const gate = gates.get(i + 1);
        const state = waveState(r, i, devices, gate);
        return el(
          "li",
          { class: `wave wave-${state.replace(/ /g, "-")}`, dataset: { wave: i + 1, state } },
          el("div", { class: "wave-top" }, el("span", { class: "wave-name" }, i === 0 ? "canary" : `wave ${i + 1}`), el("span", { class: "wave-state" }, state), el("span", { class: "muted small" }, `${devices.length} device${devices.length === 1 ? "" : "s"}`)),
          el("div", { class: "chips" }, devices.map((d) => waveChip(r, d))),
          gate ? el("div", { class: "gate small", title: `gate judged ${timeAgo(gate.at)}` }, gate.reason) : null,
        );
      }),
    ),
  );
}

function stepsOf(plan) {
  const steps = new Map();
  for (const s of plan?.steps || []) {
    if (!steps.has(s.step)) steps.set(s.step, { ...s, copies: [], rejected: s.rejected || [] });
    steps.get(s.step).copies.push(s);
  }
  return [...steps.values()].sort((a, b) => a.step - b.step);
}

// The pipeline: one box per step, its devices inside, arrows between steps.
export function pipelineView(d, devices) {
  const status = Object.fromEntries(devices.map((x) => [x.name, x.status]));
  const steps = stepsOf(d.plan);
  if (!steps.length) return el("p", { class: "muted" }, d.error || "This deployment has no placement.");
  return el(
    "div",
    { class: "pipeline" },
    steps.map((s, i) => [
      i ? el("div", { class: "pipe-arrow", "aria-hidden": "true" }, "➜") : null,
      el(
        "div",
        { class: "pipe-step", dataset: { step: s.step } },
        el("div", { class: "pipe-title" }, `${s.step + 1}. `, s.module ? el("a", { href: `#/modules/${encodeURIComponent(s.module_id || s.module)}` }, `${s.module}`) : "bridge", s.function ? `.${s.function}` : "", s.version ? el("span", { class: "muted" }, ` v${s.version}`) : null),
        s.copies.map((c) =>
          el(
            "a",
            { class: `pipe-device status-${status[c.device] || "unknown"}`, href: `#/devices/${encodeURIComponent(c.device)}`, dataset: { device: c.device }, title: `score ${c.score}${c.fit ? ", " + c.fit : ""}` },
            el("span", { class: "dot" }),
            c.device,
            el("span", { class: "muted small" }, ` ${status[c.device] || "?"}`),
          ),
        ),
        s.rejected.length ? el("div", { class: "muted small" }, `${s.rejected.length} device${s.rejected.length === 1 ? "" : "s"} rejected`) : null,
      ),
    ]),
  );
}

export async function render(root, ctx, { name }) {
  const draw = async () => {
    const [d, devices, outs] = await Promise.all([
      ctx.api.get(`/api/v1/deployments/${encodeURIComponent(name)}`),
      ctx.api.get("/api/v1/devices"),
      ctx.api.get("/api/v1/rollouts"),
    ]);
    const execs = await ctx.api.get(`/api/v1/executions?deployment=${encodeURIComponent(d.id)}&limit=10`).catch(() => []);
    const rejected = stepsOf(d.plan).flatMap((s) => s.rejected.map((r) => ({ ...r, step: s.step, label: `${s.step + 1}. ${s.module ?? "bridge"}.${s.function ?? ""}` })));
    const actions = el("span", { class: "actions" });
    if (ctx.session.can("PUT", "/api/v1/deployments/{key}")) {
      actions.append(el("button", { type: "button", onclick: () => act("PUT", "Re-solved and redeployed.") }, "Redeploy"));
    }
    if (ctx.session.can("DELETE", "/api/v1/deployments/{key}")) {
      actions.append(el("button", { type: "button", class: "danger", onclick: () => act("DELETE", "Removed.") }, "Remove"));
    }
    const mine = outs.filter((r) => r.deployment_id === d.id || r.deployment === d.name);
    fill(root,
      heading(d.name, statusBadge(d.status), el("span", { class: "muted" }, `epoch ${d.epoch}`), actions),
      d.error ? errorBox({ message: d.error }) : null,
      (d.warnings || []).length ? el("ul", { class: "warnings" }, d.warnings.map((w) => el("li", {}, w))) : null,
      el("section", { class: "card" }, el("h2", {}, "Pipeline"), pipelineView(d, devices)),
      el(
        "section",
        { class: "card" },
        el("h2", {}, "Why not the other devices"),
        table(
          [
            ["Step", (r) => r.label],
            ["Device", (r) => el("a", { href: `#/devices/${encodeURIComponent(r.device)}` }, r.device)],
            ["Reason", (r) => r.reason],
          ],
          rejected,
          { empty: "No device was rejected: every device could host every step." },
        ),
      ),
      el(
        "section",
        { class: "card moves" },
        el("h2", {}, "Moved steps"),
        table(
          [
            ["When", (m) => timeAgo(m.at)],
            ["Step", (m) => (typeof m.step === "number" ? m.step + 1 : m.step)],
            ["From", (m) => m.from],
            ["To", (m) => m.to],
            ["Why", (m) => m.reason],
            ["Epoch", (m) => m.epoch],
          ],
          [...(d.moves || [])].reverse(),
          { empty: "No step was moved." },
        ),
      ),
      el("section", { class: "card" }, el("h2", {}, "Rollouts"), mine.length ? mine.reverse().map(wavesView) : el("p", { class: "muted empty" }, "No rollout of this deployment.")),
      el(
        "section",
        { class: "card" },
        el("h2", {}, "Recent executions"),
        table(
          [
            ["When", (e) => el("a", { href: `#/executions/${encodeURIComponent(e.id)}` }, timeAgo(e.started_at))],
            ["Outcome", (e) => statusBadge(e.success)],
            ["Result", (e) => el("code", {}, JSON.stringify(e.result)?.slice(0, 80) ?? "")],
            ["Steps", (e) => (e.steps || []).map((s) => s.device).join(" → ")],
            ["Time", (e) => (e.duration_ms != null ? `${Math.round(e.duration_ms)} ms` : "")],
          ],
          execs,
          { empty: "Not run yet." },
        ),
      ),
    );
  };

  const act = async (method, done) => {
    try {
      const path = `/api/v1/deployments/${encodeURIComponent(name)}`;
      if (method === "PUT") await ctx.api.put(path);
      else {
        if (!confirm(`Remove deployment ${name} from its devices?`)) return;
        await ctx.api.del(path);
      }
      ctx.toast(done, "ok");
      if (method === "DELETE") location.hash = "#/deployments";
      else await draw();
    } catch (err) {
      ctx.toast(err.message, "error");
    }
  };

  await draw();
  const { reload, cancel } = debounced(draw, ctx);
  const offs = [
    ctx.events.on("deployment", (e) => (e.name === name || e.removed ? reload() : null)),
    ctx.events.on("rollout", reload),
    ctx.events.on("execution", (e) => (e.deployment === name ? reload() : null)),
    ctx.events.on("device", (e) => (!e.heartbeat ? reload() : null)),
    ctx.events.on("reconnected", reload),
  ];
  return () => {
    offs.forEach((off) => off());
    cancel();
  };
}
