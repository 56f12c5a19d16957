// Modules: the latest version of each name, its functions and signature; upload with progress.

import { bytes, el, fieldError, heading, table, timeAgo } from "../ui.js";

export function signature(m) {
  return m.signed_by
    ? el("span", { class: "badge status-signed", title: `signed with key ${m.signed_by}` }, `signed · ${m.signed_by}`)
    : el("span", { class: "badge status-unsigned", title: "no signature" }, "unsigned");
}

function uploadForm(ctx, reload) {
  const name = el("input", { name: "name", required: true, placeholder: "fibo", autocomplete: "off" });
  const file = el("input", { name: "wasm", type: "file", accept: ".wasm,application/wasm", required: true });
  const note = el("input", { name: "note", placeholder: "what changed (optional)" });
  const bar = el("progress", { max: 1, value: 0, hidden: true, class: "upload-progress" });
  const label = el("span", { class: "muted progress-text" });
  const button = el("button", { type: "submit", class: "primary" }, "Upload");
  file.addEventListener("change", () => {
    const picked = file.files[0];
    if (picked && !name.value) name.value = picked.name.replace(/\.wasm$/, "");
  });
  const form = el(
    "form",
    { class: "upload card" },
    el("h2", {}, "Upload a module"),
    el("div", { class: "row" },
      el("label", { class: "field" }, el("span", {}, "Name"), name),
      el("label", { class: "field" }, el("span", {}, ".wasm file"), file),
      el("label", { class: "field" }, el("span", {}, "Note"), note),
      button,
    ),
    el("div", { class: "row center" }, bar, label),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fieldError(name, null);
    fieldError(file, null);
    if (!file.files[0]) return fieldError(file, "Choose a .wasm file.");
    const data = new FormData();
    data.append("name", name.value.trim());
    if (note.value.trim()) data.append("note", note.value.trim());
    data.append("wasm", new File([file.files[0]], file.files[0].name, { type: "application/wasm" }));
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    try {
      const made = await ctx.api.form("/api/v1/modules", data, {
        onProgress: (frac) => {
          if (frac !== null) bar.value = frac;
          label.textContent = frac === null ? "uploading…" : `${Math.round(frac * 100)} %`;
        },
      });
      bar.value = 1;
      label.textContent = made.message || `${made.name} version ${made.version} stored.`;
      ctx.toast(label.textContent, "ok");
      form.reset();
      await reload();
    } catch (err) {
      bar.hidden = true;
      label.textContent = "";
      const target = /wasm|binary|module|part/i.test(err.field || "") || /wasm|binary|magic/i.test(err.message) ? file : name;
      fieldError(err.field === "name" ? name : target, err.message);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export async function render(root, ctx) {
  const body = el("div");
  root.append(heading("Modules"));
  if (ctx.session.can("POST", "/api/v1/modules")) root.append(uploadForm(ctx, () => load()));
  root.append(body);
  const load = async () => {
    const modules = await ctx.api.get("/api/v1/modules");
    body.replaceChildren(
      table(
        [
          ["Module", (m) => el("a", { href: `#/modules/${encodeURIComponent(m.name)}`, class: "module-link" }, m.name)],
          ["Version", (m) => `v${m.version}${m.versions > 1 ? ` (of ${m.versions})` : ""}`],
          ["Functions", (m) => (m.functions || []).join(", ") || el("span", { class: "muted" }, "not described")],
          ["Size", (m) => bytes(m.size)],
          ["Signature", signature],
          ["Uploaded", (m) => `${timeAgo(m.created_at)}${m.created_by ? " by " + m.created_by : ""}`],
        ],
        modules,
        { empty: "No module yet.", rowAttrs: (m) => ({ "data-module": m.name }) },
      ),
    );
  };
  await load();
}
