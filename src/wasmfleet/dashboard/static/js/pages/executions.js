// Executions: run a deployment's first function with a form generated from its description,
// see the result and its per-hop waterfall; the list of recent executions updates live.
// Routes: #/executions (list + run) and #/executions/ID (one execution).

import { describeFunctions } from "../wasm/abi.js";
import { el, functionForm } from "../forms.js";
import { renderWaterfall } from "../waterfall.js";

const LIMIT = 50;

function when(iso) {
  if (!iso) return "";
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? iso : t.toLocaleTimeString();
}

function short(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text && text.length > 80 ? text.slice(0, 77) + "…" : text ?? "";
}

async function drawTrace(ctx, id, box) {
  box.replaceChildren(el("p", { class: "wf-empty" }, "Loading the trace…"));
  try {
    renderWaterfall(box, await ctx.api.get(`/api/v1/executions/${encodeURIComponent(id)}/trace`));
  } catch (err) {
    box.replaceChildren(el("p", { class: "wf-empty" }, `No trace: ${err.message}`));
  }
}

function executionDetail(ctx, ex) {
  const trace = el("div", { class: "ex-trace" });
  const steps = el("table", { class: "ex-steps" },
    el("thead", {}, el("tr", {}, el("th", {}, "step"), el("th", {}, "device"), el("th", {}, "result"), el("th", {}, "ms"))),
    el("tbody", {}, ...(ex.steps ?? []).map((s, i) =>
      el("tr", { class: s.success === false ? "ex-failed" : "" },
        el("td", {}, s.function ?? s.step ?? i), el("td", {}, s.device ?? ""), el("td", {}, short(s.result ?? s.error)), el("td", {}, s.duration_ms ?? "")))));
  const node = el("section", { class: "ex-detail", dataset: { execution: ex.id } },
    el("h3", {}, `Execution ${ex.id}`),
    el("div", { class: `ex-outcome ${ex.success ? "ex-ok" : "ex-bad"}` },
      ex.success ? "succeeded" : "failed", " · ", el("code", { class: "ex-result" }, short(ex.success ? ex.result : ex.error)),
      ex.duration_ms !== undefined && ex.duration_ms !== null ? ` · ${ex.duration_ms} ms` : ""),
    steps, el("h4", {}, "Waterfall"), trace);
  drawTrace(ctx, ex.id, trace);
  return node;
}

/** Render the executions page; returns a cleanup that unsubscribes from live events. */
export async function render(root, ctx, params = {}) {
  const cleanups = [];
  root.replaceChildren();
  const page = el("div", { class: "ex-page" });
  root.append(page);

  if (params.id) {
    const list = await ctx.api.get(`/api/v1/executions?limit=1000`);
    const ex = list.find((e) => String(e.id) === String(params.id));
    page.append(el("p", {}, el("a", { href: "#/executions" }, "← executions")));
    page.append(ex ? executionDetail(ctx, ex) : el("p", { class: "ex-missing" }, `Execution ${params.id} is not among the last 1000.`));
    return () => {};
  }

  const deployments = await ctx.api.get("/api/v1/deployments");
  const runBox = el("section", { class: "ex-run" }, el("h3", {}, "Run"));
  const result = el("div", { class: "ex-result-box" });
  const formBox = el("div", {});
  const picker = el("select", { class: "ex-deployment", "aria-label": "Deployment" },
    ...deployments.map((d) => el("option", { value: d.name || d.id }, `${d.name || d.id} (${d.status})`)));
  runBox.append(el("label", {}, "Deployment ", picker), formBox, result);
  const listBody = el("tbody", {});
  const listBox = el("section", { class: "ex-list" }, el("h3", {}, "Recent executions"),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "id"), el("th", {}, "deployment"), el("th", {}, "started"), el("th", {}, "outcome"), el("th", {}, "result"), el("th", {}, "ms"))), listBody));
  page.append(runBox, listBox);
  const modules = new Map();

  let shown = 0;
  async function showForm() {
    const mine = ++shown; // a later choice wins over a form still loading
    formBox.replaceChildren();
    const dep = deployments.find((d) => (d.name || d.id) === picker.value);
    const first = dep?.manifest?.steps?.[0];
    if (!first) {
      formBox.append(el("p", {}, deployments.length ? "This deployment has no steps." : "No deployments yet: deploy a manifest first."));
      return;
    }
    const fnName = first.function ?? first.func;
    const key = first.module;
    if (!modules.has(key)) modules.set(key, await ctx.api.get(`/api/v1/modules/${encodeURIComponent(key)}`));
    if (mine !== shown) return;
    const fn = describeFunctions(modules.get(key).description || {})[fnName];
    if (!fn) {
      formBox.append(el("p", {}, `The description of ${key} does not describe ${fnName}.`));
      return;
    }
    const canRun = !ctx.session?.can || ctx.session.can("POST", "/api/v1/deployments/{key}/execute");
    formBox.append(el("p", { class: "ex-fn" }, `First step: ${key}.${fnName}`));
    if (!canRun) {
      formBox.append(el("p", { class: "ex-readonly" }, "Your role may not run executions."));
      return;
    }
    formBox.append(functionForm(fn, {
      submitLabel: "Execute",
      onSubmit: async ({ args, files }) => {
        const body = new FormData();
        for (const [name, value] of args) body.append(name, value);
        for (const [name, file] of Object.entries(files)) body.append(name, file, file.name || name);
        let ex;
        try {
          ex = await ctx.api.form(`/api/v1/deployments/${encodeURIComponent(picker.value)}/execute`, body);
        } catch (err) {
          // refused input (4xx) still ran as an execution: show it, its trace, then the sentence
          if (err.body?.execution) {
            result.replaceChildren(executionDetail(ctx, err.body.execution));
            await refresh();
          }
          throw err;
        }
        result.replaceChildren(executionDetail(ctx, ex));
        await refresh();
        // A device that refused the input (4xx): its sentence goes next to the field too.
        const refused = /failed: 4\d\d: (.*)$/s.exec(ex.success ? "" : String(ex.error ?? ""));
        if (refused) throw Object.assign(new Error(refused[1]), { code: "refused_by_device" });
      },
    }));
  }

  async function refresh() {
    const rows = await ctx.api.get(`/api/v1/executions?limit=${LIMIT}`);
    const names = new Map(deployments.map((d) => [d.id, d.name || d.id]));
    listBody.replaceChildren(...rows.map((e) =>
      el("tr", { class: e.success ? "" : "ex-failed", dataset: { execution: e.id } },
        el("td", {}, el("a", { href: `#/executions/${encodeURIComponent(e.id)}` }, String(e.id).slice(0, 8))),
        el("td", {}, names.get(e.deployment_id) ?? e.deployment_id),
        el("td", {}, when(e.started_at)),
        el("td", {}, e.success ? "ok" : "failed"),
        el("td", {}, short(e.success ? e.result : e.error)),
        el("td", {}, e.duration_ms ?? ""))));
  }

  picker.addEventListener("change", () => showForm().catch((err) => formBox.replaceChildren(el("p", { class: "run-form-error" }, err.message))));
  await Promise.all([showForm().catch((err) => formBox.replaceChildren(el("p", { class: "run-form-error" }, err.message))), refresh()]);
  if (ctx.events?.on) {
    let pending = null;
    cleanups.push(ctx.events.on("execution", () => {
      clearTimeout(pending);
      pending = setTimeout(() => refresh().catch(() => {}), 200);
    }));
  }
  return () => cleanups.forEach((off) => off && off());
}
