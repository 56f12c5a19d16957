// The form that installs an app at a place: app, location, parameters, an optional schedule;
// "Check binding" asks the API for a dry run (the binding, nothing stored), "Install" does it.

import { el, fieldError, fill, zoned } from "./ui.js";
import { bindingView, fireInstants } from "./pages/install.js";

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

// "speed=2\nlabel=hall" → {speed: 2, label: "hall"} (a value is JSON when it parses as JSON).
export function parseParams(text) {
  const out = {};
  for (const line of text.split(/\n/).map((s) => s.trim()).filter(Boolean)) {
    const cut = line.indexOf("=");
    if (cut < 1) throw new Error(`Write one parameter a line as name=value (like speed=2), got '${line}'.`);
    const raw = line.slice(cut + 1).trim();
    let value = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* text */
    }
    out[line.slice(0, cut).trim()] = value;
  }
  return out;
}

// installForm(ctx, {app?, onDone}) → {form, update(apps, locations)}; app fixes the app.
export function installForm(ctx, { app = null, onDone }) {
  const appSel = el("select", { name: "app" });
  const locSel = el("select", { name: "location" });
  const name = el("input", { name: "name", placeholder: "(app-location)", autocomplete: "off" });
  const params = el("textarea", { name: "params", rows: 2, cols: 26, placeholder: "speed=2", spellcheck: "false" });
  const scheduled = el("input", { type: "checkbox", name: "scheduled" });
  const cron = el("input", { name: "cron", placeholder: "0 8,20 * * *", autocomplete: "off", size: 14 });
  const zone = el("input", { name: "timezone", value: browserZone(), size: 16, autocomplete: "off" });
  const mode = el("select", { name: "mode" }, el("option", { value: "run" }, "run"), el("option", { value: "window" }, "window"));
  const duration = el("input", { name: "duration", placeholder: "8h", size: 6 });
  const start = el("input", { name: "start", placeholder: "YYYY-MM-DD", size: 11 });
  const end = el("input", { name: "end", placeholder: "YYYY-MM-DD", size: 11 });
  const count = el("input", { name: "count", type: "number", min: 1, placeholder: "∞", style: { width: "70px" } });
  const missed = el("select", { name: "missed" }, el("option", { value: "once" }, "run the latest once"), el("option", { value: "skip" }, "skip"));
  const windowField = el("label", { class: "field", hidden: true }, el("span", {}, "Window"), duration);
  mode.addEventListener("change", () => { windowField.hidden = mode.value !== "window"; });
  const scheduleRow = el("div", { class: "row schedule-fields", hidden: true },
    el("label", { class: "field" }, el("span", {}, "Cron"), cron),
    el("label", { class: "field" }, el("span", {}, "Time zone"), zone),
    el("label", { class: "field", title: "run: deployed now, the function runs at each fire; window: deployed from each fire for a while" }, el("span", {}, "Mode"), mode),
    windowField,
    el("label", { class: "field" }, el("span", {}, "Start (optional)"), start),
    el("label", { class: "field" }, el("span", {}, "End (optional)"), end),
    el("label", { class: "field" }, el("span", {}, "Runs"), count),
    el("label", { class: "field" }, el("span", {}, "Missed fires"), missed),
  );
  scheduled.addEventListener("change", () => { scheduleRow.hidden = !scheduled.checked; });
  const check = el("button", { type: "button", class: "check" }, "Check binding");
  const go = el("button", { type: "submit", class: "primary" }, "Install");
  const result = el("div", { class: "install-result" });
  const form = el("form", { class: "card install-form" },
    el("h2", {}, "Install an app at a place"),
    el("div", { class: "row" },
      app ? null : el("label", { class: "field" }, el("span", {}, "App"), appSel),
      el("label", { class: "field" }, el("span", {}, "Location"), locSel),
      el("label", { class: "field" }, el("span", {}, "Install name"), name),
      el("label", { class: "field" }, el("span", {}, "Parameters (name=value a line)"), params),
      el("label", { class: "field inline" }, el("span", {}, "Schedule"), el("span", { class: "check-line" }, scheduled, " on a schedule")),
      check, go,
    ),
    scheduleRow,
    result,
  );
  const fields = { app: app ? null : appSel, location: locSel, name, params, cron, schedule: cron, timezone: zone, duration, start, end, count, missed, mode };

  const body = () => {
    const doc = { app: app ?? appSel.value, location: locSel.value };
    if (name.value.trim()) doc.name = name.value.trim();
    const p = parseParams(params.value);
    if (Object.keys(p).length) doc.params = p;
    if (scheduled.checked) {
      const s = { cron: cron.value.trim(), timezone: zone.value.trim(), mode: mode.value, missed: missed.value };
      if (mode.value === "window") s.duration = duration.value.trim();
      if (start.value.trim()) s.start = start.value.trim();
      if (end.value.trim()) s.end = end.value.trim();
      if (count.value) s.count = Number(count.value);
      doc.schedule = s;
    }
    return doc;
  };

  const send = async (dryRun) => {
    Object.values(fields).forEach((f) => fieldError(f, null));
    result.replaceChildren();
    let doc;
    try {
      doc = body();
    } catch (err) {
      fieldError(params, err.message);
      return;
    }
    check.disabled = go.disabled = true;
    try {
      const made = await ctx.api.post("/api/v1/installs", dryRun ? { ...doc, dry_run: true } : doc);
      if (dryRun) {
        const fires = fireInstants(made.schedule);
        fill(result,
          el("p", { class: "muted" }, `${doc.app} at ${doc.location} would bind:`),
          bindingView(made.binding),
          fires.length ? el("p", { class: "muted small" }, `next fires: ${fires.map((t) => `${zoned(t, "UTC")} (${zoned(t, made.schedule.timezone)})`).join(", ")}`) : null,
        );
      } else {
        ctx.toast(`Installed ${made.name}: ${made.status}.`, "ok");
        form.reset();
        zone.value = browserZone();
        scheduleRow.hidden = true;
        windowField.hidden = true;
        await onDone?.(made);
      }
    } catch (err) {
      const key = err.field && fields[err.field] ? err.field : ["schedule", "cron", "timezone", "start", "end", "count", "duration"].find((k) => new RegExp(`\\b${k}\\b`, "i").test(err.message) && scheduled.checked);
      const target = fields[key] || (/param/i.test(err.message) ? params : null);
      if (target) fieldError(target, err.message);
      else result.replaceChildren(el("p", { class: "error", role: "alert" }, err.message));
    } finally {
      check.disabled = go.disabled = false;
    }
  };
  check.addEventListener("click", () => send(true));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    send(false);
  });

  const options = (select, values) => {
    const picked = select.value;
    fill(select, values.map((v) => el("option", { value: v, selected: v === picked }, v)));
  };
  return {
    form,
    update(apps, locations) {
      options(appSel, apps.map((a) => a.name));
      options(locSel, locations.map((l) => l.path));
    },
  };
}
