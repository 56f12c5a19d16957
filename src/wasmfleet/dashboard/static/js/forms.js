// A form generated from a function's OpenAPI description (wasm/abi.js describeFunctions):
// one input per query parameter (typed from its schema), one file input per execution
// mount, and the API's sentence shown next to the field it names when a run is refused.

/** A DOM element: el("div", {class: "x", onclick: fn}, child, "text", ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && key !== "list" && key !== "form") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const INPUT_TYPES = { integer: "text", number: "text", string: "text", boolean: "text" };

/** Show `message` next to `input` (and mark it invalid); an empty message clears it. */
export function setFieldError(input, message) {
  const field = input.closest(".run-field") || input.parentElement;
  let note = field.querySelector(".run-field-error");
  if (!message) {
    input.removeAttribute("aria-invalid");
    note?.remove();
    return;
  }
  if (!note) {
    note = el("div", { class: "run-field-error", role: "alert" });
    field.append(note);
  }
  note.textContent = message;
  input.setAttribute("aria-invalid", "true");
  if (note.id === "") note.id = `err-${Math.random().toString(36).slice(2)}`;
  input.setAttribute("aria-describedby", note.id);
}

/** The field an error is about: its `field`, else the first input whose name the sentence quotes. */
export function fieldFor(form, error) {
  const inputs = [...form.querySelectorAll("[data-arg], [data-mount]")];
  const named = (name) => inputs.find((i) => (i.dataset.arg ?? i.dataset.mount) === name);
  if (error && error.field && named(error.field)) return named(error.field);
  const message = String(error?.message ?? "");
  return inputs.find((i) => {
    const name = i.dataset.arg ?? i.dataset.mount;
    return message.includes(`'${name}'`) || message.includes(`"${name}"`) || message.includes(` ${name}=`);
  }) ?? null;
}

/**
 * A <form> for `fn` (describeFunctions' shape). `onSubmit({args, files, form})` gets
 * args as [[name, value]] (strings, as a form sends them) and files as {mount: File}; when it
 * rejects, the error's sentence (ApiError/BrowserCallError: {message, field}) is shown next to
 * the field it names, or above the button. `options.submitLabel`, `options.extra` (nodes
 * placed before the button) are optional.
 */
export function functionForm(fn, { onSubmit, submitLabel = "Run", extra = null } = {}) {
  const form = el("form", { class: "run-form", novalidate: true });
  form.dataset.function = fn.name;
  if (fn.summary) form.append(el("p", { class: "run-summary" }, fn.summary));
  for (const p of fn.params) {
    const id = `arg-${fn.name}-${p.name}-${Math.random().toString(36).slice(2, 7)}`;
    const input = el("input", {
      id,
      name: p.name,
      type: INPUT_TYPES[p.type] ?? "text",
      inputmode: p.type === "integer" ? "numeric" : p.type === "number" ? "decimal" : null,
      placeholder: p.type || "value",
      value: p.example !== undefined ? String(p.example) : "",
      dataset: { arg: p.name },
    });
    form.append(
      el("div", { class: "run-field" },
        el("label", { for: id }, p.name, el("span", { class: "run-type" }, p.type ? ` ${p.type}` : ""), p.required ? el("span", { class: "run-required", title: "required" }, " *") : null),
        input,
        p.description ? el("div", { class: "run-help" }, p.description) : null),
    );
  }
  for (const m of fn.mounts.filter((m) => m.stage === "execution")) {
    const id = `mount-${fn.name}-${Math.random().toString(36).slice(2, 7)}`;
    const accept = m.media_type && m.media_type !== "application/octet-stream" ? m.media_type : null;
    const input = el("input", { id, name: m.name, type: "file", accept, dataset: { mount: m.name } });
    form.append(
      el("div", { class: "run-field" },
        el("label", { for: id }, m.name, el("span", { class: "run-type" }, ` file ${m.media_type || ""}`)),
        input),
    );
  }
  if (extra) form.append(...[extra].flat().filter(Boolean));
  const general = el("div", { class: "run-form-error", role: "alert", hidden: true });
  const button = el("button", { type: "submit", class: "run-submit" }, submitLabel);
  form.append(general, el("div", { class: "run-actions" }, button));

  form.addEventListener("input", (event) => {
    if (event.target.matches("[data-arg], [data-mount]")) setFieldError(event.target, "");
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const input of form.querySelectorAll("[data-arg], [data-mount]")) setFieldError(input, "");
    general.hidden = true;
    const args = [...form.querySelectorAll("[data-arg]")]
      .filter((i) => i.value !== "")
      .map((i) => [i.dataset.arg, i.value]);
    const files = {};
    for (const input of form.querySelectorAll("[data-mount]")) {
      if (input.files && input.files[0]) files[input.dataset.mount] = input.files[0];
    }
    button.disabled = true;
    form.classList.add("run-busy");
    try {
      await onSubmit({ args, files, form });
    } catch (error) {
      showFormError(form, error);
    } finally {
      button.disabled = false;
      form.classList.remove("run-busy");
    }
  });
  return form;
}

/** Put an error's sentence next to its field, or above the form's button. */
export function showFormError(form, error) {
  const message = error?.message ?? String(error);
  const input = fieldFor(form, error);
  if (input) {
    setFieldError(input, message);
    input.focus();
    return;
  }
  const general = form.querySelector(".run-form-error");
  general.textContent = message;
  general.hidden = false;
}
