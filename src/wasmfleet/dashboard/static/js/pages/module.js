// One module: its versions, functions (from its description), signature, imports; run it in
// the browser through the preview (preview.js), beside a device's answer.

import { bytes, el, fieldError, fill, heading, table, timeAgo } from "../ui.js";
import { signature } from "./modules.js";

const METHODS = ["get", "post", "put", "delete"];

// The functions an OpenAPI description names: [{name, method, params, body, response}].
export function describedFunctions(module) {
  const paths = module.description?.paths || {};
  const out = [];
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      const op = item?.[method];
      if (!op) continue;
      const params = (op.parameters || item.parameters || []).filter((p) => p.in !== "path" || p.name !== "deployment");
      const content = op.requestBody?.content || {};
      const answer = op.responses?.["200"]?.content || {};
      out.push({
        name: path.split("/").pop(),
        method: method.toUpperCase(),
        summary: op.summary || op.description || "",
        params: params.map((p) => `${p.name}: ${p.schema?.type || "?"}`),
        body: Object.entries(content).map(([type, c]) => `${type}${c.schema?.properties ? " (" + Object.keys(c.schema.properties).join(", ") + ")" : ""}`),
        response: Object.entries(answer).map(([type, c]) => `${type}${c.schema?.type ? " " + c.schema.type : ""}`),
      });
    }
  }
  return out;
}

function describeForm(ctx, module, reload) {
  const file = el("input", { type: "file", name: "description", accept: ".json,application/json" });
  const button = el("button", { type: "submit" }, "Describe");
  const form = el("form", { class: "row describe" }, el("label", { class: "field" }, el("span", {}, "Description (OpenAPI or wasmiot JSON)"), file), button);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    fieldError(file, null);
    if (!file.files[0]) return fieldError(file, "Choose a description file.");
    const data = new FormData();
    data.append("description", file.files[0]);
    button.disabled = true;
    try {
      await ctx.api.form(`/api/v1/modules/${module.id}/description`, data);
      ctx.toast("Description stored.", "ok");
      await reload();
    } catch (err) {
      fieldError(file, err.message);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export async function render(root, ctx, { key }) {
  let stopPreview = () => {};
  let mounted = 0;
  const draw = async () => {
    const module = await ctx.api.get(`/api/v1/modules/${encodeURIComponent(key)}`);
    const versions = await ctx.api.get(`/api/v1/modules/${encodeURIComponent(module.name)}/versions`);
    const functions = describedFunctions(module);
    const preview = el("section", { class: "card preview-host" });
    fill(root,
      heading(`${module.name}`, el("span", { class: "muted" }, `v${module.version}`), signature(module)),
      el(
        "section",
        { class: "card" },
        el("dl", { class: "facts" },
          el("dt", {}, "Id"), el("dd", {}, el("code", {}, module.id)),
          el("dt", {}, "sha256"), el("dd", {}, el("code", { class: "hash" }, module.sha256)),
          el("dt", {}, "Size"), el("dd", {}, bytes(module.size)),
          el("dt", {}, "Signature"), el("dd", {}, module.signed_by ? `Ed25519 key ${module.signed_by}` : "unsigned (accepted unless the orchestrator requires signatures)"),
          el("dt", {}, "Imports"), el("dd", {}, (module.requirements || []).map((r) => `${r.module}.${r.name}`).join(", ") || "none"),
          el("dt", {}, "Data files"), el("dd", {}, Object.keys(module.data_files || {}).join(", ") || "none"),
        ),
      ),
      el(
        "section",
        { class: "card functions" },
        el("h2", {}, "Functions"),
        table(
          [
            ["Function", (f) => el("code", {}, f.name)],
            ["Method", (f) => f.method],
            ["Parameters", (f) => f.params.join(", ") || "–"],
            ["Body", (f) => f.body.join(", ") || "–"],
            ["Answer", (f) => f.response.join(", ") || "–"],
          ],
          functions,
          { empty: `Not described yet; exports: ${(module.exports || []).map((e) => e.name).join(", ") || "none"}.` },
        ),
        ctx.session.can("POST", "/api/v1/modules/{key}/description") ? describeForm(ctx, module, draw) : null,
      ),
      preview,
      el(
        "section",
        { class: "card" },
        el("h2", {}, "Versions"),
        table(
          [
            ["Version", (v) => el("a", { href: `#/modules/${encodeURIComponent(v.id)}` }, `v${v.version}`)],
            ["sha256", (v) => el("code", {}, v.sha256.slice(0, 12))],
            ["Size", (v) => bytes(v.size)],
            ["Functions", (v) => (v.functions || []).join(", ")],
            ["Deployments", (v) => v.deployments.join(", ") || "–"],
            ["Uploaded", (v) => `${timeAgo(v.created_at)}${v.created_by ? " by " + v.created_by : ""}`],
            ["Note", (v) => v.note || ""],
          ],
          versions,
        ),
      ),
    );
    stopPreview();
    stopPreview = () => {};
    const mount = el("div");
    preview.append(mount);
    const mine = ++mounted;
    import("../preview.js")
      .then((m) => {
        const stop = m.mountPreview(mount, module, ctx);
        if (mine === mounted) stopPreview = stop;
        else stop();
      })
      .catch((err) => mount.replaceChildren(el("p", { class: "error" }, `The preview failed to start: ${err.message}`)));
  };
  await draw();
  return () => {
    mounted += 1;
    stopPreview();
  };
}
