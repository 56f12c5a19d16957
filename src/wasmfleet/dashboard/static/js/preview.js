// The isomorphic preview: the module's very .wasm (GET /file/module/{id}/wasm) runs in this
// browser (wasm/client.js) and, for the same input, on a device through a deployment whose
// first step is this function (POST /api/v1/deployments/{key}/execute); both answers side by side.

import { describeFunctions } from "./wasm/abi.js";
import { BrowserModule } from "./wasm/client.js";
import { el, functionForm, showFormError } from "./forms.js";

const CAMERA_IMPORTS = ["camera.takeImageDynamicSize", "camera.takeImageStaticSize"];
const MAX_CONSOLE = 500;

function dataFileNames(module) {
  const files = module.data_files;
  if (Array.isArray(files)) return files.map((f) => (typeof f === "string" ? f : f?.name)).filter(Boolean);
  if (files && typeof files === "object") return Object.keys(files);
  return [];
}

function stepOf(plan, step) {
  return (plan?.steps ?? []).filter((s) => Number(s.step) === step);
}

/** Deployments whose first step is `fnName` of this module: [{key, label}]. */
async function deploymentsOf(ctx, module, fnName) {
  let list;
  try {
    list = await ctx.api.get("/api/v1/deployments");
  } catch {
    return [];
  }
  return list
    .filter((d) => {
      const first = d.manifest?.steps?.[0];
      if (!first || (first.function ?? first.func) !== fnName) return false;
      const ref = first.module;
      return ref === module.name || ref === module.id || stepOf(d.plan, 0).some((s) => s.module === module.id || s.module === module.name);
    })
    .map((d) => ({ key: d.name || d.id, label: `${d.name || d.id} on ${stepOf(d.plan, 0).map((s) => s.device).join(", ") || "?"}` }));
}

async function sha256(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function resultNode(answer, urls) {
  if (answer.output) {
    const blob = new Blob([answer.output.bytes], { type: answer.output.media_type });
    const url = URL.createObjectURL(blob);
    urls.push(url);
    const node = el("div", { class: "pv-file" },
      el("div", {}, el("code", {}, answer.output.name), ` ${answer.output.bytes.byteLength} bytes`),
      el("a", { href: url, download: answer.output.name }, "download"));
    if (answer.output.media_type.startsWith("image/")) node.prepend(el("img", { src: url, alt: answer.output.name, class: "pv-image" }));
    return node;
  }
  return el("code", { class: "pv-value" }, answer.result === null ? "null" : JSON.stringify(answer.result));
}

/** Mount the preview of `module` (GET /api/v1/modules/{key}) into `container`; returns a cleanup. */
export function mountPreview(container, module, ctx) {
  const functions = describeFunctions(module.description || {});
  const urls = [];
  let browser = null;
  let webcam = null;
  const consoleBox = el("pre", { class: "pv-console", "aria-label": "Browser console" });
  const qoaBox = el("div", { class: "pv-qoa" });
  const importsBox = el("div", { class: "pv-imports" });
  const status = el("div", { class: "pv-status" }, "Loading the module into the browser…");
  const body = el("div", { class: "pv-body" });
  const root = el("section", { class: "pv", "aria-label": "Run in the browser" },
    el("h3", {}, "Run in the browser ", el("span", { class: "pv-sub" }, "same .wasm, two layers")),
    status, importsBox, body,
    el("details", { class: "pv-more", open: true }, el("summary", {}, "Browser console"), consoleBox, qoaBox));
  container.append(root);

  const print = (stream, line) => {
    if (consoleBox.childNodes.length >= MAX_CONSOLE) consoleBox.firstChild.remove();
    consoleBox.append(el("div", { class: `pv-line pv-${stream.replace(/\W/g, "_")}` }, el("span", { class: "pv-stream" }, stream), " ", line));
    consoleBox.scrollTop = consoleBox.scrollHeight;
  };
  const qoa = (r) => {
    qoaBox.append(el("div", { class: "pv-qoa-row" }, `qoa_report ${r.function}: ${r.latency_ms.toFixed(2)} ms, confidence ${r.confidence.toFixed(3)}`));
  };

  async function start() {
    const wasm = await ctx.api.blob(`/file/module/${encodeURIComponent(module.id)}/wasm`);
    const dataFiles = {};
    for (const name of dataFileNames(module)) {
      dataFiles[name] = await ctx.api.blob(`/file/module/${encodeURIComponent(module.id)}/${encodeURIComponent(name)}`);
    }
    browser = new BrowserModule({ name: module.name, wasm, description: module.description || {}, dataFiles, onPrint: print, onQoa: qoa });
    const info = await browser.load();
    const callable = info.functions.map((f) => f.name);
    status.textContent = `${module.name}: ${(wasm.byteLength / 1024).toFixed(1)} KiB compiled by this browser; ${callable.length} function${callable.length === 1 ? "" : "s"}.`;
    status.dataset.state = "ready";
    importsBox.replaceChildren(
      ...info.offered.map((q) => el("span", { class: "pv-import pv-offered", title: "provided by the browser" }, q)),
      ...info.absent.map((q) => el("span", { class: "pv-import pv-absent", title: "traps: not on this layer" }, q)),
    );
    const needsCamera = info.offered.some((q) => CAMERA_IMPORTS.includes(q));
    const picker = el("select", { class: "pv-function", "aria-label": "Function" }, ...callable.map((n) => el("option", { value: n }, n)));
    const panel = el("div", { class: "pv-panel" });
    body.replaceChildren(el("label", { class: "pv-pick" }, "Function ", picker), panel);
    const show = () => showFunction(functions[picker.value], panel, needsCamera);
    picker.addEventListener("change", show);
    if (callable.length) await show();
    else panel.append(el("p", {}, "The description names no function the binary exports."));
  }

  function cameraControls() {
    const file = el("input", { type: "file", accept: "image/jpeg", class: "pv-camera-file", "aria-label": "Picture for the camera" });
    const video = el("video", { class: "pv-webcam", autoplay: true, muted: true, playsinline: true, hidden: true });
    const button = el("button", { type: "button", class: "pv-webcam-button" }, "Use the webcam");
    button.addEventListener("click", async () => {
      try {
        webcam = await navigator.mediaDevices.getUserMedia({ video: true });
        video.srcObject = webcam;
        video.hidden = false;
        button.disabled = true;
      } catch (err) {
        ctx.toast?.(`The webcam is not available: ${err.message}`, "error");
      }
    });
    const controls = el("fieldset", { class: "run-field pv-camera" },
      el("legend", {}, "Camera of this layer"),
      el("label", {}, "Picture ", file), " or ", button, video);
    controls.capture = async () => {
      if (file.files && file.files[0]) return file.files[0].arrayBuffer();
      if (webcam && video.videoWidth) {
        const canvas = el("canvas", { width: video.videoWidth, height: video.videoHeight });
        canvas.getContext("2d").drawImage(video, 0, 0);
        const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
        return blob.arrayBuffer();
      }
      return null;
    };
    return controls;
  }

  async function showFunction(fn, panel, needsCamera) {
    // running on a device is an execution: only for a role that may execute (the browser is free)
    const mayExecute = !ctx.session?.can || ctx.session.can("POST", "/api/v1/deployments/{key}/execute");
    const targets = mayExecute ? await deploymentsOf(ctx, module, fn.name) : [];
    const none = mayExecute ? "browser only (no deployment starts with this function)" : "browser only (your role may not run executions)";
    const target = el("select", { class: "pv-target", "aria-label": "Device run", disabled: !mayExecute },
      el("option", { value: "" }, targets.length ? "browser only" : none),
      ...targets.map((t) => el("option", { value: t.key }, t.label)));
    if (targets.length) target.value = targets[0].key;
    const camera = needsCamera ? cameraControls() : null;
    const results = el("div", { class: "pv-results", "aria-live": "polite" });
    const form = functionForm(fn, {
      submitLabel: "Run",
      extra: [camera, el("div", { class: "run-field" }, el("label", {}, "Also on a device ", target))],
      onSubmit: ({ args, files }) => run(fn, args, files, target.value, camera, results, form),
    });
    panel.replaceChildren(form, results);
  }

  async function run(fn, args, files, deployment, camera, results, form) {
    const buffers = {};
    for (const [name, file] of Object.entries(files)) buffers[name] = await file.arrayBuffer();
    const picture = camera ? await camera.capture() : null;
    const inBrowser = browser.call(fn.name, args, buffers, picture);
    let onDevice = null;
    if (deployment) {
      const body = new FormData();
      for (const [name, value] of args) body.append(name, value);
      for (const [name, file] of Object.entries(files)) body.append(name, file, file.name || name);
      onDevice = ctx.api.form(`/api/v1/deployments/${encodeURIComponent(deployment)}/execute`, body);
    }
    const [b, d] = await Promise.allSettled([inBrowser, onDevice ?? Promise.resolve(null)]);
    const browserCell = el("div", { class: "pv-cell pv-browser", dataset: { side: "browser" } }, el("h4", {}, "Browser"));
    if (b.status === "fulfilled") {
      browserCell.dataset.result = b.value.output ? `file:${b.value.output.name}` : String(b.value.result);
      browserCell.append(resultNode(b.value, urls), el("div", { class: "pv-ms" }, `${b.value.ms} ms`));
      if (b.value.output) browserCell.append(el("div", { class: "pv-hash" }, `sha256 ${(await sha256(b.value.output.bytes)).slice(0, 16)}…`));
    } else {
      browserCell.dataset.error = b.reason.code ?? "error";
      browserCell.append(el("div", { class: "pv-error" }, b.reason.message));
    }
    const cells = [browserCell];
    let deviceResult = null;
    if (deployment) {
      const deviceCell = el("div", { class: "pv-cell pv-device", dataset: { side: "device" } });
      if (d.status === "fulfilled") {
        const ex = d.value;
        const step = ex.steps?.[0] ?? {};
        deviceResult = step.result ?? ex.result;
        deviceCell.append(el("h4", {}, `Device ${step.device ?? ""}`));
        if (ex.success === false) {
          deviceCell.dataset.error = "failed";
          deviceCell.append(el("div", { class: "pv-error" }, ex.error ?? step.error ?? "the execution failed"));
        } else {
          deviceCell.dataset.result = fn.returnsFile ? `file:${String(deviceResult).split("/").pop()}` : String(deviceResult);
          deviceCell.append(el("code", { class: "pv-value" }, JSON.stringify(deviceResult)));
        }
        const took = step.duration_ms ?? ex.duration_ms;
        if (took !== undefined && took !== null) deviceCell.append(el("div", { class: "pv-ms" }, `${took} ms (with the hop)`));
        if (ex.id) deviceCell.append(el("a", { href: `#/executions/${encodeURIComponent(ex.id)}` }, "execution and waterfall"));
      } else {
        deviceCell.append(el("h4", {}, "Device"));
        deviceCell.dataset.error = d.reason?.code ?? "error";
        deviceCell.append(el("div", { class: "pv-error" }, d.reason?.message ?? String(d.reason)));
      }
      cells.push(deviceCell);
    }
    const verdict = el("div", { class: "pv-verdict" });
    if (deployment && b.status === "fulfilled" && d.status === "fulfilled" && d.value.success !== false) {
      if (fn.returnsFile) {
        const same = browserCell.dataset.result === cells[1].dataset.result;
        verdict.dataset.same = String(same);
        verdict.textContent = same
          ? "Both layers wrote the same output file name; the device keeps its bytes (the camera and other inputs of each layer differ)."
          : "The layers wrote different output files.";
      } else {
        const same = String(b.value.result) === String(deviceResult);
        verdict.dataset.same = String(same);
        verdict.textContent = same ? "Same binary, same answer on both layers." : "The answers differ.";
      }
    }
    results.replaceChildren(el("div", { class: "pv-compare" }, ...cells), verdict);
    results.dataset.run = String(Number(results.dataset.run || 0) + 1);
    if (b.status === "rejected" && ["invalid_argument", "invalid_mount"].includes(b.reason.code)) showFormError(form, b.reason);
    else if (d.status === "rejected" && d.reason?.status >= 400 && d.reason?.status < 500) showFormError(form, d.reason);
  }

  start().catch((err) => {
    status.dataset.state = "failed";
    status.textContent = `This module cannot run in the browser: ${err.message}`;
  });

  return () => {
    browser?.close();
    webcam?.getTracks().forEach((t) => t.stop());
    urls.forEach((u) => URL.revokeObjectURL(u));
    root.remove();
  };
}
