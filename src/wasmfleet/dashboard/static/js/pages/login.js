// Sign in with an API token (an admin makes one with `wasmfleet token create`).

import { el, fieldError } from "../ui.js";

export async function render(root, ctx) {
  const input = el("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    placeholder: "wf_…",
    required: true,
    spellcheck: "false",
  });
  const button = el("button", { type: "submit", class: "primary" }, "Sign in");
  const form = el(
    "form",
    { class: "login card", novalidate: true },
    el("h1", {}, "Sign in to wasmfleet"),
    el("p", { class: "muted" }, "Paste an API token. An admin makes one with ", el("code", {}, "wasmfleet token create"), "; your role decides what you may see and do."),
    el("label", { class: "field" }, el("span", {}, "Token"), input),
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fieldError(input, null);
    const token = input.value.trim();
    if (!token) {
      fieldError(input, "Paste a token: it starts with wf_.");
      return;
    }
    button.disabled = true;
    try {
      await ctx.signIn(token);
    } catch (err) {
      fieldError(input, err.message);
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  root.append(form);
  input.focus();
}
