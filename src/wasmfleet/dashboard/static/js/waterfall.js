// One execution drawn as a waterfall across devices: one bar per span of
// GET /api/v1/executions/{id}/trace, offset from the execution's start, with the function's
// own time (self_ms) darker than the time spent waiting on the next hop.

import { el } from "./forms.js";

function ordered(spans) {
  const byParent = new Map();
  const ids = new Set(spans.map((s) => s.span_id));
  for (const s of spans) {
    const parent = s.parent_span_id && ids.has(s.parent_span_id) ? s.parent_span_id : null;
    if (!byParent.has(parent)) byParent.set(parent, []);
    byParent.get(parent).push(s);
  }
  for (const list of byParent.values()) list.sort((a, b) => (a.start_ms ?? 0) - (b.start_ms ?? 0));
  const out = [];
  const seen = new Set();
  const walk = (parent, depth) => {
    for (const s of byParent.get(parent) ?? []) {
      if (seen.has(s.span_id) || out.length > 1000) continue;
      seen.add(s.span_id);
      out.push({ span: s, depth });
      walk(s.span_id, depth + 1);
    }
  };
  walk(null, 0);
  for (const s of spans) if (!seen.has(s.span_id)) out.push({ span: s, depth: 0 });
  return out;
}

const ms = (v) => (v === null || v === undefined ? "–" : `${Number(v).toFixed(v < 10 ? 2 : 1)} ms`);

/** Draw `trace` ({trace_id, duration_ms, spans: [...]}) into `container` (replacing its content). */
export function renderWaterfall(container, trace) {
  container.replaceChildren();
  const spans = Array.isArray(trace?.spans) ? trace.spans : [];
  if (!spans.length) {
    container.append(el("p", { class: "wf-empty" }, "No spans were recorded for this execution."));
    return container;
  }
  const end = Math.max(
    Number(trace.duration_ms) || 0,
    ...spans.map((s) => (Number(s.start_ms) || 0) + (Number(s.duration_ms) || 0)),
  ) || 1;
  const pct = (v) => `${Math.max(0, Math.min(100, (v / end) * 100))}%`;
  const rows = ordered(spans).map(({ span, depth }) => {
    const start = Number(span.start_ms) || 0;
    const duration = Number(span.duration_ms) || 0;
    const own = span.self_ms === null || span.self_ms === undefined ? null : Math.min(duration, Number(span.self_ms));
    const failed = span.success === false;
    const bar = el("div", {
      class: `wf-bar wf-${span.kind || "step"}${failed ? " wf-failed" : ""}`,
      style: `left:${pct(start)};width:${pct(duration)}`,
      title: `${span.name}: starts at +${ms(start)}, takes ${ms(duration)}${own !== null ? `, own time ${ms(own)}, waiting ${ms(duration - own)}` : ""}${span.error ? ` — ${span.error}` : ""}`,
    });
    if (own !== null && duration > 0) bar.append(el("div", { class: "wf-self", style: `width:${(own / duration) * 100}%` }));
    return el("div", { class: "wf-row", dataset: { span: span.span_id } },
      el("div", { class: "wf-label", style: `padding-left:${depth * 14}px` },
        el("span", { class: "wf-name" }, span.name || span.kind),
        el("span", { class: "wf-device" }, span.device ?? "orchestrator")),
      el("div", { class: "wf-track" }, bar),
      el("div", { class: "wf-times" },
        `+${ms(start)} · ${ms(duration)}`,
        own !== null ? el("span", { class: "wf-own" }, ` (own ${ms(own)})`) : null,
        failed ? el("span", { class: "wf-error" }, ` ✗ ${span.error ?? "failed"}`) : null));
  });
  const scale = el("div", { class: "wf-scale" },
    el("span", {}, "0"), el("span", {}, ms(end / 2)), el("span", {}, ms(end)));
  container.append(
    el("div", { class: "wf", role: "figure", "aria-label": `Waterfall of trace ${trace.trace_id ?? ""}` },
      el("div", { class: "wf-head" },
        el("span", {}, `trace ${trace.trace_id ?? "?"}`),
        el("span", {}, `${spans.length} span${spans.length === 1 ? "" : "s"} · ${ms(trace.duration_ms ?? end)}`)),
      ...rows,
      el("div", { class: "wf-row wf-axis" }, el("div", { class: "wf-label" }), scale, el("div", { class: "wf-times" })),
      el("div", { class: "wf-legend" },
        el("span", { class: "wf-key wf-key-self" }), " own time ",
        el("span", { class: "wf-key wf-key-wait" }), " waiting for the next hop ",
        el("span", { class: "wf-key wf-key-orch" }), " orchestrator")),
  );
  return container;
}
