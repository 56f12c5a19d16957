// The dashboard shell: session (token → whoami + the route table), hash router, navigation,
// live events with a reconnect banner, toasts. Pages live in pages/<page>.js and export
// `async function render(root, ctx, params)` that may return a cleanup function.

import { api, ApiError, getToken, setToken } from "./api.js";
import { EventBus } from "./events.js";
import { el, errorBox } from "./ui.js";

const ROUTES = [
  [/^\/login$/, "login", []],
  [/^\/fleet$/, "fleet", []],
  [/^\/devices\/([^/]+)$/, "device", ["name"]],
  [/^\/modules$/, "modules", []],
  [/^\/modules\/([^/]+)$/, "module", ["key"]],
  [/^\/deployments$/, "deployments", []],
  [/^\/deployments\/([^/]+)$/, "deployment", ["name"]],
  [/^\/executions(?:\/([^/]+))?$/, "executions", ["id"]],
  [/^\/logs$/, "logs", []],
  [/^\/plots$/, "plots", []],
  [/^\/places$/, "places", []],
  [/^\/apps(?:\/([^/]+))?$/, "apps", ["name"]],
  [/^\/installs\/([^/]+)$/, "install", ["name"]],
];

// [page, label, the API route its data comes from]: a role that may not read it sees no link.
const NAV = [
  ["fleet", "Fleet", "/api/v1/devices"],
  ["modules", "Modules", "/api/v1/modules"],
  ["deployments", "Deployments", "/api/v1/deployments"],
  ["executions", "Executions", "/api/v1/executions"],
  ["logs", "Logs", "/api/v1/logs"],
  ["plots", "Plots", "/api/v1/metrics/series"],
  ["places", "Places", "/api/v1/locations"],
  ["apps", "Apps", "/api/v1/apps"],
];

const SECTION = { device: "fleet", module: "modules", deployment: "deployments", install: "apps" };

// Where a role lands: the fleet, else the apps (an end user), else the first page it may read.
function home() {
  const allowed = NAV.filter(([, , path]) => ctx.session?.can("GET", path)).map(([page]) => page);
  return ["fleet", "apps", ...allowed].find((page) => allowed.includes(page)) || "fleet";
}

const main = document.getElementById("main");
const banner = document.getElementById("banner");
let cleanup = null;
let renderCount = 0;

function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const note = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(note);
  setTimeout(() => note.remove(), kind === "error" ? 8000 : 4000);
}

function showBanner(message) {
  banner.textContent = message;
  banner.hidden = false;
}

function hideBanner() {
  banner.hidden = true;
}

// session = {user, role, auth, can(method, pathTemplate)}
async function loadSession() {
  const table = await api.get("/ui/rbac.json");
  const byRoute = new Map(table.rules.map(([m, p, a]) => [`${m} ${p}`, a]));
  const base = {
    auth: table.auth,
    can(method, path) {
      if (this.auth === "off") return true;
      const access = byRoute.get(`${method.toUpperCase()} ${path}`);
      return Boolean(access && this.role && (table.levels[access] || []).includes(this.role));
    },
  };
  if (table.auth === "on" && !getToken()) return { ...base, user: null, role: null };
  const who = await api.get("/api/v1/whoami");
  return { ...base, user: who.user, role: who.role, token: who.token };
}

const ctx = { api, session: null, toast };

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, "")) || `/${home()}`;
  const [path, query = ""] = raw.split("?");
  for (const [pattern, page, names] of ROUTES) {
    const m = pattern.exec(path);
    if (m) {
      const params = Object.fromEntries(new URLSearchParams(query));
      names.forEach((n, i) => {
        if (m[i + 1] !== undefined) params[n] = m[i + 1];
      });
      return { page, params };
    }
  }
  return { page: null, params: { path } };
}

function drawNav(active) {
  const nav = document.getElementById("nav");
  nav.replaceChildren(
    ...(ctx.session?.user || ctx.session?.auth === "off"
      ? NAV.filter(([, , path]) => ctx.session.can("GET", path)).map(([page, label]) =>
          el("a", { href: `#/${page}`, class: active === page || SECTION[active] === page ? "active" : "" }, label),
        )
      : []),
  );
  const who = document.getElementById("who");
  if (ctx.session?.user) {
    who.replaceChildren(
      el("span", { class: "user" }, ctx.session.user),
      el("span", { class: "role" }, ctx.session.role || ""),
      ctx.session.auth === "on" ? el("button", { class: "link", onclick: logout, type: "button" }, "Sign out") : null,
    );
  } else who.replaceChildren();
}

async function logout() {
  setToken(null);
  ctx.events?.stop();
  ctx.events = null;
  ctx.session = await loadSession().catch(() => null);
  location.hash = "#/login";
}

function loadPage(page) {
  return import(`./pages/${page}.js`);
}

async function route() {
  const mine = ++renderCount;
  if (cleanup) {
    try {
      cleanup();
    } catch (err) {
      console.warn("page cleanup failed", err);
    }
    cleanup = null;
  }
  let { page, params } = parseHash();
  const signedIn = ctx.session && (ctx.session.user || ctx.session.auth === "off");
  if (!signedIn && page !== "login") {
    location.replace("#/login");
    return;
  }
  if (signedIn && page === "login" && ctx.session.auth === "off") page = home();
  drawNav(page);
  const root = el("div", { class: `page page-${page || "missing"}` });
  main.replaceChildren(root);
  if (!page) {
    root.append(el("h1", {}, "Not found"), el("p", {}, `Nothing at ${params.path}; see the pages above.`));
    return;
  }
  try {
    const module = await loadPage(page);
    if (mine !== renderCount) return;
    const done = await module.render(root, ctx, params);
    if (mine !== renderCount) {
      if (typeof done === "function") done();
      return;
    }
    cleanup = typeof done === "function" ? done : null;
  } catch (err) {
    if (mine !== renderCount) return;
    if (err instanceof ApiError && err.status === 401 && ctx.session?.auth === "on") {
      setToken(null);
      ctx.session = { ...ctx.session, user: null, role: null };
      toast(err.message, "error");
      location.replace("#/login");
      return;
    }
    root.append(errorBox(err));
    if (!(err instanceof ApiError)) console.error(err); // a bug, not an answer: tests see it
  }
}

// Sign in with a token: whoami must accept it (the API's sentence otherwise).
async function signIn(token) {
  setToken(token);
  try {
    ctx.session = await loadSession();
  } catch (err) {
    setToken(null);
    throw err;
  }
  startEvents();
  location.hash = `#/${home()}`;
}
ctx.signIn = signIn;

function startEvents() {
  if (ctx._events) return;
  if (!ctx.session?.can("GET", "/api/v1/events")) return; // an end user: pages load on demand
  ctx.events = new EventBus({
    onLost: showBanner,
    onOpen: hideBanner,
    onRefused: (message) => showBanner(`Live updates are off: ${message}`),
  });
  ctx.events.start();
}

async function boot() {
  try {
    ctx.session = await loadSession();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      setToken(null);
      ctx.session = await loadSession();
      toast(err.message, "error");
    } else {
      main.replaceChildren(errorBox(err));
      showBanner("The orchestrator does not answer — reload when it is back.");
      return;
    }
  }
  if (ctx.session.user || ctx.session.auth === "off") startEvents();
  else ctx.events = null;
  window.addEventListener("hashchange", route);
  route();
}

// Pages subscribe through ctx.events; before sign-in it is a bus that never fires.
Object.defineProperty(ctx, "events", {
  get() {
    return this._events || { on: () => () => {}, stop() {} };
  },
  set(value) {
    this._events = value;
  },
});

boot();
