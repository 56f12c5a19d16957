// One deployment: the pipeline drawn as steps on devices, why other devices were rejected,
// steps moved by self-healing, rollouts with their waves, recent executions.

import { el, fill, errorBox, heading, statusBadge, table, timeAgo } from "../ui.js";

// A rollout: its status and one row of device chips per wave (done, current, waiting).
export function wavesView(r) {
  const waves = r.waves || [];
  return el(
    "div",
    { class: "rollout", dataset: { rollout: r.id } },
    el("div", { class: "rollout-head" }, statusBadge(r.status), ` ${r.deployment} → ${r.to}`, el("span", { class: "muted" }, ` ${timeAgo(r.created_at)}`), r.reason ? el("span", { class: "muted" }, ` — ${r.reason}`) : null),
    el(
      "ol",
      { class: "waves" },
      waves.map((devices, i) => {
        const state = i < r.wave ? "done" : i === r.wave && !["succeeded", "failed", "undone", "rolled_back"].includes(r.status) ? "current" : i < r.wave || r.status === "succeeded" ? "done" : "waiting";
        return el(
          "li",
          { class: `wave wave-${state}` },
          el("span", { class: "wave-name" }, i === 0 ? "canary" : `wave ${i + 1}`),
          devices.map((d) => el("span", { class: `chip ${r.updated?.[d] ? "updated" : ""}`, title: r.updated?.[d] ? "updated" : "not yet" }, d)),
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
  let soon = null;
  const reload = () => {
    clearTimeout(soon);
    soon = setTimeout(() => draw().catch((err) => ctx.toast(err.message, "error")), 200);
  };
  const offs = [
    ctx.events.on("deployment", (e) => (e.name === name || e.removed ? reload() : null)),
    ctx.events.on("rollout", reload),
    ctx.events.on("execution", (e) => (e.deployment === name ? reload() : null)),
    ctx.events.on("device", (e) => (!e.heartbeat ? reload() : null)),
    ctx.events.on("reconnected", reload),
  ];
  return () => {
    offs.forEach((off) => off());
    clearTimeout(soon);
  };
}
