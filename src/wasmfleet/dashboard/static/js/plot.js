// Line charts with the vendored uPlot (no CDN), and the metrics series H1's API serves.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { el } from "./ui.js";

// x ticks on whole seconds (uPlot would tick every 0.5 s over a short window)
const WHOLE_SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
const COLOURS = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#5f3dc4", "#0b7285", "#a61e4d", "#5c940d"];

// A chart of lines over time: xs (Unix s) and lines [{label, values, unit}]; range fixes
// the y axis (say [0, 100] for percentages) instead of fitting it to the data.
export function lineChart(host, { title, xs, lines, unit = "", height = 180, range = null }) {
  const width = Math.max(280, host.clientWidth || 560);
  const opts = {
    title,
    width,
    height,
    scales: range ? { x: { time: true }, y: { range } } : { x: { time: true } },
    axes: [{ incrs: WHOLE_SECONDS }, { label: unit, size: 60 }],
    series: [{}, ...lines.map((l, i) => ({ label: l.label, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: true }))],
    legend: { live: false },
  };
  const chart = new uPlot(opts, [xs, ...lines.map((l) => l.values)], host);
  const resize = () => chart.setSize({ width: Math.max(280, host.clientWidth || width), height });
  window.addEventListener("resize", resize);
  return () => {
    window.removeEventListener("resize", resize);
    chart.destroy();
  };
}

// Several charts (calls/s, latency, QoA) of the `series` answer, one line per function;
// `device: false` leaves the device out of the line names (on a device's own page).
export function seriesCharts(host, answer, { empty = "No calls in this window yet.", device = true } = {}) {
  const series = (answer && answer.series) || [];
  if (!series.some((s) => (s.points || []).length)) {
    host.replaceChildren(el("p", { class: "muted empty" }, empty));
    return () => {};
  }
  const ts = [...new Set(series.flatMap((s) => s.points.map((p) => p.t)))].sort((a, b) => a - b);
  const index = new Map(ts.map((t, i) => [t, i]));
  const name = (s) => [s.deployment, s.module && s.function ? `${s.module}.${s.function}` : s.function, device ? s.device : null].filter(Boolean).join(" · ");
  const lines = (key) =>
    series.map((s) => {
      const values = new Array(ts.length).fill(null);
      for (const p of s.points) values[index.get(p.t)] = p[key] ?? null;
      return { label: name(s), values };
    });
  const charts = [
    ["Calls per second", "calls_per_s", "1/s"],
    ["Errors per second", "errors_per_s", "1/s"],
    ["Latency, mean", "latency_mean_ms", "ms"],
    ["Latency, p95", "latency_p95_ms", "ms"],
    ["QoA latency", "qoa_latency_ms", "ms"],
    ["QoA confidence", "qoa_confidence", ""],
  ];
  host.replaceChildren();
  const stops = [];
  const quiet = [];
  for (const [title, key, unit] of charts) {
    // only the functions with a value in this chart; a chart of nothing but zeros says so in a line
    const data = lines(key).filter((l) => l.values.some((v) => v !== null));
    if (!data.length) continue;
    if (key === "errors_per_s" && data.every((l) => l.values.every((v) => !v))) {
      quiet.push("no errors in this window");
      continue;
    }
    const box = el("div", { class: "chart", dataset: { metric: key } });
    host.append(box);
    stops.push(lineChart(box, { title, xs: ts, lines: data, unit }));
  }
  if (quiet.length) host.append(el("p", { class: "muted quiet" }, `${quiet.join("; ")}.`));
  return () => stops.forEach((s) => s());
}
