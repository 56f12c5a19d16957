// Plots: call rate, errors, latency and QoA per function over the last minutes (H1's series).

import { el, heading } from "../ui.js";
import { seriesCharts } from "../plot.js";

const WINDOWS = [
  [300, "5 min"],
  [600, "10 min"],
  [1800, "30 min"],
  [3600, "1 h"],
];

export async function render(root, ctx, params) {
  const deps = await ctx.api.get("/api/v1/deployments");
  const deployment = el("select", { name: "deployment" }, el("option", { value: "" }, "all deployments"), deps.map((d) => el("option", { value: d.name }, d.name)));
  const windowS = el("select", { name: "window_s" }, WINDOWS.map(([s, label]) => el("option", { value: s }, label)));
  deployment.value = params.deployment || "";
  windowS.value = params.window_s || "600";
  const note = el("span", { class: "muted" });
  const charts = el("div", { class: "charts series" });
  root.append(
    heading("Plots", note),
    el("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
      el("label", { class: "field" }, el("span", {}, "Deployment"), deployment),
      el("label", { class: "field" }, el("span", {}, "Window"), windowS)),
    charts,
  );
  let stop = () => {};
  const draw = async () => {
    const query = new URLSearchParams({ window_s: windowS.value });
    if (deployment.value) query.set("deployment", deployment.value);
    const answer = await ctx.api.get(`/api/v1/metrics/series?${query}`);
    stop();
    note.textContent = `one point every ${answer.step_s} s`;
    stop = seriesCharts(charts, answer, { empty: "No calls in this window yet: run a deployment and the plots fill in." });
  };
  deployment.addEventListener("change", () => draw().catch((err) => ctx.toast(err.message, "error")));
  windowS.addEventListener("change", () => draw().catch((err) => ctx.toast(err.message, "error")));
  await draw();
  const every = setInterval(() => draw().catch(() => {}), 10000);
  return () => {
    clearInterval(every);
    stop();
  };
}
