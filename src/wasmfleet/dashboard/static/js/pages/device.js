// One device: facts, status history, its deployments, its logs (live), usage and per-function plots.

import { el, errorBox, heading, labelChips, statusBadge, table, timeAgo } from "../ui.js";
import { lineChart, seriesCharts } from "../plot.js";
import { capacityText } from "./fleet.js";
import { logLine } from "./logs.js";

const WINDOW_S = 600;

function facts(d) {
  const p = d.platform || {};
  const rows = [
    ["Status", el("span", {}, statusBadge(d.status), d.reason ? ` ${d.reason}` : "")],
    ["URL", el("code", {}, d.url || "–")],
    ["Labels", labelChips(d.labels)],
    ["Capacity", capacityText(d.capacity)],
    ["Last heartbeat", timeAgo(d.last_seen)],
    ["Monitoring", d.monitoring ? `${d.monitoring}, φ ${d.phi ?? "–"}${d.placeable ? "" : " (not placeable" + (d.unplaceable_because ? ": " + d.unplaceable_because : "") + ")"}` : "–"],
    ["Platform", [p.system?.os, p.system?.architecture || p.cpu?.architecture].filter(Boolean).join(" · ") || "–"],
    ["Interfaces", (d.interfaces || []).length ? el("details", {}, el("summary", {}, `${d.interfaces.length} host functions`), el("span", { class: "chips" }, d.interfaces.map((i) => el("span", { class: "chip" }, i)))) : "–"],
  ];
  return el("dl", { class: "facts" }, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

export async function render(root, ctx, { name }) {
  const device = await ctx.api.get(`/api/v1/devices/${encodeURIComponent(name)}`);
  const factsBox = el("section", { class: "card" }, facts(device));
  const deps = el("section", { class: "card" }, el("h2", {}, "Deployments"));
  const usage = el("section", { class: "card" }, el("h2", {}, "Usage over time"), el("div", { class: "charts usage" }));
  const plots = el("section", { class: "card" }, el("h2", {}, "Calls on this device"), el("div", { class: "charts series" }));
  const logs = el("section", { class: "card" }, el("h2", {}, "Logs ", el("a", { href: `#/logs?device=${encodeURIComponent(name)}`, class: "small" }, "live tail →")));
  const logList = el("ol", { class: "log-lines" });
  logs.append(logList);
  const history = el(
    "section",
    { class: "card" },
    el("h2", {}, "Status history"),
    table(
      [
        ["When", (e) => timeAgo(e.time)],
        ["Status", (e) => statusBadge(e.status)],
        ["Why", (e) => e.reason || ""],
      ],
      [...(device.status_log || [])].reverse().slice(0, 20),
      { empty: "No status change recorded." },
    ),
  );
  root.append(heading(device.name, statusBadge(device.status)), el("div", { class: "two" }, factsBox, deps), usage, plots, logs, history);

  const stops = [];
  const drawDeployments = async () => {
    const all = await ctx.api.get("/api/v1/deployments");
    const here = all.filter((d) => (d.plan?.steps || []).some((s) => s.device === name));
    deps.replaceChildren(
      el("h2", {}, "Deployments"),
      table(
        [
          ["Deployment", (d) => el("a", { href: `#/deployments/${encodeURIComponent(d.name)}` }, d.name)],
          ["Status", (d) => statusBadge(d.status)],
          ["Steps here", (d) => d.plan.steps.filter((s) => s.device === name).map((s) => `${s.step + 1}. ${s.module ?? "bridge"}.${s.function ?? ""}`).join(", ")],
        ],
        here,
        { empty: "No deployment has a step on this device." },
      ),
    );
  };

  const drawUsage = async () => {
    const host = usage.querySelector(".usage");
    const answer = await ctx.api.get(`/api/v1/devices/${encodeURIComponent(name)}/usage?window_s=${WINDOW_S}`);
    stops.splice(0).forEach((s) => s());
    const points = answer.points || [];
    if (!points.length) {
      host.replaceChildren(el("p", { class: "muted empty" }, "No heartbeat with usage yet."));
      return;
    }
    host.replaceChildren();
    const xs = points.map((p) => p.t);
    const box = el("div", { class: "chart" });
    host.append(box);
    stops.push(
      lineChart(box, {
        title: "CPU and memory",
        xs,
        unit: "%",
        range: [0, 100],
        lines: [
          { label: "CPU %", values: points.map((p) => (p.cpu == null ? null : p.cpu * 100)) },
          { label: "memory %", values: points.map((p) => (p.memory == null ? null : p.memory * 100)) },
        ],
      }),
    );
  };

  let seriesStop = () => {};
  const drawSeries = async () => {
    const host = plots.querySelector(".series");
    const answer = await ctx.api.get(`/api/v1/metrics/series?device=${encodeURIComponent(name)}&window_s=${WINDOW_S}`);
    seriesStop();
    seriesStop = seriesCharts(host, answer, { empty: "No calls on this device in the last 10 minutes.", device: false });
  };

  const drawLogs = async () => {
    const rows = await ctx.api.get(`/api/v1/logs?device=${encodeURIComponent(name)}&limit=1000`);
    logList.replaceChildren(...rows.slice(-50).reverse().map(logLine));
    if (!rows.length) logList.replaceChildren(el("li", { class: "muted" }, "No log entries from this device yet."));
  };

  const guarded = (f) => () => f().catch((err) => ctx.toast(err.message, "error"));
  await Promise.all([drawDeployments(), drawLogs()]).catch((err) => root.append(errorBox(err)));
  await Promise.all([drawUsage(), drawSeries()]).catch((err) => root.append(errorBox(err)));

  const offs = [
    ctx.events.on("deployment", guarded(drawDeployments)),
    ctx.events.on("log", (e) => {
      if (e.device !== name) return;
      logList.querySelector(".muted")?.remove();
      logList.prepend(logLine(e));
      while (logList.children.length > 200) logList.lastChild.remove();
    }),
    ctx.events.on("device", (e) => {
      if (e.name === name && !e.heartbeat) {
        ctx.api.get(`/api/v1/devices/${encodeURIComponent(name)}`).then((d) => {
          factsBox.replaceChildren(facts(d));
          root.querySelector(".page-head .badge")?.replaceWith(statusBadge(d.status));
        }, () => {});
      }
    }),
  ];
  const every = setInterval(() => {
    drawUsage().catch(() => {});
    drawSeries().catch(() => {});
  }, 10000);
  return () => {
    offs.forEach((off) => off());
    clearInterval(every);
    stops.forEach((s) => s());
    seriesStop();
  };
}
