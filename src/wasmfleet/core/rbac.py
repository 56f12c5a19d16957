"""Who may call which orchestrator route: roles, access levels, and the one route table.

Roles are what a token carries. ``admin`` may do everything. The platform's people:

    configurer     the platform configurer: registers locations, sensors and controllers
    ai-developer   publishes models and other modules
    app-developer  publishes apps (manifests that use modules, sensors and controllers)
    developer      both developers at once (modules, apps, deployments)
    operator       deploys, rolls out, runs, installs apps anywhere
    end-user       installs apps at the locations they are allowed, and sees only their
                   own installs (plus the catalogue of apps and places to pick from)
    viewer         reads everything but installs

``device`` is a supervisor's own credential (the routes devices call), issued when a
supervisor joins with a ``device-join`` token. A route is given an *access level*, and a
level is the set of roles allowed on it:

    open       no token needed (probes, the API documents)
    view       every person's role but end-user (read only)
    catalog    view + end-user (apps, locations and one's installs: what an end user picks from)
    fetch      view + device (module files that supervisors download)
    develop    ai-developer, developer, admin (push, describe, delete modules)
    publish    app-developer, developer, admin (publish and delete apps)
    configure  configurer, admin (locations, sensors, controllers)
    deploy     developer, operator, admin (deployments: create, change, remove, run)
    install    end-user, operator, admin (install, change, uninstall and run app installs)
    operate    operator, admin (rollouts)
    admin      admin (users, audit, forgetting devices)
    device     device, admin (heartbeats, registration, log shipping)
    signed-in  any role but device-join (who am I, one's own tokens)
    join       device-join, admin (a supervisor trading its single-use join token for
               its own device credential)

``RULES`` lists every route of the orchestrator; ``docs/security.md`` carries the same table
(``markdown_table``), checked by a test, and another test walks it against a live API.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """A role a token carries."""

    ADMIN = "admin"
    DEVELOPER = "developer"
    OPERATOR = "operator"
    VIEWER = "viewer"
    CONFIGURER = "configurer"
    AI_DEVELOPER = "ai-developer"
    APP_DEVELOPER = "app-developer"
    END_USER = "end-user"
    DEVICE = "device"
    JOIN = "device-join"


HUMAN_ROLES: tuple[Role, ...] = (
    Role.ADMIN,
    Role.DEVELOPER,
    Role.OPERATOR,
    Role.VIEWER,
    Role.CONFIGURER,
    Role.AI_DEVELOPER,
    Role.APP_DEVELOPER,
    Role.END_USER,
)
"""The roles a person's or a CI job's token may have (``device`` is for supervisors)."""

COVERS: dict[Role, frozenset[Role]] = {
    Role.ADMIN: frozenset(Role),
    Role.DEVELOPER: frozenset(
        {Role.DEVELOPER, Role.AI_DEVELOPER, Role.APP_DEVELOPER, Role.VIEWER}
    ),
    Role.OPERATOR: frozenset({Role.OPERATOR, Role.END_USER, Role.VIEWER}),
    Role.VIEWER: frozenset({Role.VIEWER}),
    Role.CONFIGURER: frozenset({Role.CONFIGURER, Role.VIEWER}),
    Role.AI_DEVELOPER: frozenset({Role.AI_DEVELOPER, Role.VIEWER}),
    Role.APP_DEVELOPER: frozenset({Role.APP_DEVELOPER, Role.VIEWER}),
    Role.END_USER: frozenset({Role.END_USER}),
    Role.DEVICE: frozenset({Role.DEVICE}),
    Role.JOIN: frozenset(),
}
"""The roles whose rights a role includes (a user may hand out tokens of these roles)."""


class Access(StrEnum):
    """An access level: a named set of roles (see the module docstring)."""

    OPEN = "open"
    VIEW = "view"
    CATALOG = "catalog"
    FETCH = "fetch"
    DEVELOP = "develop"
    PUBLISH = "publish"
    CONFIGURE = "configure"
    DEPLOY = "deploy"
    INSTALL = "install"
    OPERATE = "operate"
    ADMIN = "admin"
    DEVICE = "device"
    SIGNED_IN = "signed-in"
    JOIN = "join"


_READERS = frozenset(HUMAN_ROLES) - {Role.END_USER}
LEVELS: dict[Access, frozenset[Role]] = {
    Access.OPEN: frozenset(Role),
    Access.VIEW: _READERS,
    Access.CATALOG: _READERS | {Role.END_USER},
    Access.FETCH: _READERS | {Role.DEVICE},
    Access.DEVELOP: frozenset({Role.AI_DEVELOPER, Role.DEVELOPER, Role.ADMIN}),
    Access.PUBLISH: frozenset({Role.APP_DEVELOPER, Role.DEVELOPER, Role.ADMIN}),
    Access.CONFIGURE: frozenset({Role.CONFIGURER, Role.ADMIN}),
    Access.DEPLOY: frozenset({Role.DEVELOPER, Role.OPERATOR, Role.ADMIN}),
    Access.INSTALL: frozenset({Role.END_USER, Role.OPERATOR, Role.ADMIN}),
    Access.OPERATE: frozenset({Role.OPERATOR, Role.ADMIN}),
    Access.ADMIN: frozenset({Role.ADMIN}),
    Access.DEVICE: frozenset({Role.DEVICE, Role.ADMIN}),
    Access.SIGNED_IN: frozenset(Role) - {Role.JOIN},
    Access.JOIN: frozenset({Role.JOIN, Role.ADMIN}),
}
"""The roles allowed at each access level."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One route (method + path template), its access level, and whether changes are audited."""

    method: str
    path: str
    access: Access
    audited: bool = False
    """A change that the audit log records (with who, when and the outcome)."""
    wasmiot: bool = False
    """A route of the wasmiot dialect (``--open-wasmiot-routes`` opens these)."""


def _r(method: str, path: str, access: Access, *, audited: bool | None = None) -> Rule:
    changes = method != "GET" if audited is None else audited
    wasmiot = path.startswith(("/file/", "/execute/", "/device/"))
    return Rule(method, path, access, changes, wasmiot)


CAT, PUB, CFG, INS = Access.CATALOG, Access.PUBLISH, Access.CONFIGURE, Access.INSTALL
V, F, DV, DP, OP, AD, DE, SI, OPEN, JN = (
    Access.VIEW,
    Access.FETCH,
    Access.DEVELOP,
    Access.DEPLOY,
    Access.OPERATE,
    Access.ADMIN,
    Access.DEVICE,
    Access.SIGNED_IN,
    Access.OPEN,
    Access.JOIN,
)
API = "/api/v1"

RULES: tuple[Rule, ...] = (
    # probes and documents
    _r("GET", "/", OPEN),
    _r("GET", "/livez", OPEN),
    _r("GET", "/readyz", OPEN),
    _r("GET", "/docs", OPEN),
    _r("GET", "/docs/oauth2-redirect", OPEN),
    _r("GET", "/docs/assets/{path}", OPEN),
    _r("GET", "/redoc", OPEN),
    _r("GET", "/openapi.json", OPEN),
    # /api/v1: fleet and devices
    _r("GET", f"{API}/status", V),
    _r("POST", f"{API}/heartbeat", DE, audited=False),
    _r("GET", f"{API}/devices", V),
    _r("GET", f"{API}/devices/{{key}}", V),
    _r("DELETE", f"{API}/devices/{{key}}", AD),
    _r("DELETE", f"{API}/devices", AD),
    _r("POST", f"{API}/devices/join", JN),
    _r("POST", f"{API}/devices/{{key}}/revoke", AD),
    # modules
    _r("GET", f"{API}/modules", V),
    _r("GET", f"{API}/modules/{{key}}", V),
    _r("GET", f"{API}/modules/{{name}}/versions", V),
    _r("POST", f"{API}/modules", DV),
    _r("POST", f"{API}/modules/{{key}}/description", DV),
    _r("DELETE", f"{API}/modules/{{key}}", DV),
    # deployments and executions
    _r("GET", f"{API}/deployments", V),
    _r("GET", f"{API}/deployments/{{key}}", V),
    _r("POST", f"{API}/deployments", DP),
    _r("PUT", f"{API}/deployments/{{key}}", DP),
    _r("POST", f"{API}/deployments/{{key}}/update", DP),
    _r("DELETE", f"{API}/deployments/{{key}}", DP),
    _r("POST", f"{API}/deployments/{{key}}/execute", DP, audited=False),
    _r("GET", f"{API}/executions", V),
    _r("GET", f"{API}/logs", V),
    # issue 16: traces
    _r("GET", f"{API}/executions/{{execution_id}}/trace", V),
    # rollouts
    _r("POST", f"{API}/rollouts", OP),
    _r("GET", f"{API}/rollouts", V),
    _r("GET", f"{API}/rollouts/{{rollout_id}}", V),
    _r("POST", f"{API}/rollouts/{{rollout_id}}/pause", OP),
    _r("POST", f"{API}/rollouts/{{rollout_id}}/resume", OP),
    _r("POST", f"{API}/rollouts/{{rollout_id}}/undo", OP),
    # identities and audit
    _r("GET", f"{API}/whoami", SI),
    _r("GET", f"{API}/users", AD),
    _r("POST", f"{API}/users", AD),
    _r("GET", f"{API}/users/{{name}}", AD),
    _r("POST", f"{API}/users/{{name}}/disable", AD),
    _r("GET", f"{API}/tokens", SI),
    _r("POST", f"{API}/tokens", SI),
    _r("DELETE", f"{API}/tokens/{{token_id}}", SI),
    _r("GET", f"{API}/audit", AD),
    # the wasmiot dialect
    _r("GET", "/file/device", V),
    _r("DELETE", "/file/device", AD),
    _r("POST", "/file/device/discovery/reset", AD),
    _r("POST", "/file/device/discovery/register", DE),
    _r("POST", "/file/module", DV),
    _r("GET", "/file/module", V),
    _r("DELETE", "/file/module", DV),
    _r("GET", "/file/module/{module_id}", V),
    _r("DELETE", "/file/module/{module_id}", DV),
    _r("POST", "/file/module/{module_id}/upload", DV),
    _r("GET", "/file/module/{module_id}/wasm", F),
    _r("GET", "/file/module/{module_id}/description", F),
    _r("GET", "/file/module/{module_id}/{file_name}", F),
    _r("POST", "/file/manifest", DP),
    _r("GET", "/file/manifest", V),
    _r("DELETE", "/file/manifest", DP),
    _r("GET", "/file/manifest/{key}", V),
    _r("POST", "/file/manifest/{key}", DP),
    _r("PUT", "/file/manifest/{key}", DP),
    _r("DELETE", "/file/manifest/{key}", DP),
    _r("POST", "/execute/{key}", DP, audited=False),
    _r("POST", "/device/logs", DE, audited=False),
    _r("GET", "/device/logs", V),
    # issue 16: metrics
    _r("GET", "/metrics", V),
    _r("GET", f"{API}/metrics/series", V),
    _r("GET", f"{API}/devices/{{key}}/usage", V),
    # issue 16: dashboard — the pages carry no data (the API with the user's token does);
    # the live streams are reads
    _r("GET", "/ui", OPEN),
    _r("GET", "/ui/", OPEN),
    _r("GET", "/ui/rbac.json", OPEN),
    _r("GET", "/ui/static/{path}", OPEN),
    _r("GET", f"{API}/events", V),
    _r("GET", f"{API}/logs/stream", V),
    # issue 17: places — locations, sensors, controllers
    _r("GET", f"{API}/locations", CAT),
    _r("POST", f"{API}/locations", CFG),
    _r("GET", f"{API}/locations/{{path}}", CAT),
    _r("DELETE", f"{API}/locations/{{path}}", CFG),
    _r("GET", f"{API}/sensors", V),
    _r("POST", f"{API}/sensors", CFG),
    _r("GET", f"{API}/sensors/{{name}}", V),
    _r("DELETE", f"{API}/sensors/{{name}}", CFG),
    _r("GET", f"{API}/controllers", V),
    _r("POST", f"{API}/controllers", CFG),
    _r("GET", f"{API}/controllers/{{name}}", V),
    _r("DELETE", f"{API}/controllers/{{name}}", CFG),
    # issue 17: apps and their installs (end users see only their own installs)
    _r("GET", f"{API}/apps", CAT),
    _r("POST", f"{API}/apps", PUB),
    _r("GET", f"{API}/apps/{{key}}", CAT),
    _r("GET", f"{API}/apps/{{name}}/versions", CAT),
    _r("DELETE", f"{API}/apps/{{key}}", PUB),
    _r("GET", f"{API}/installs", CAT),
    _r("POST", f"{API}/installs", INS),
    _r("GET", f"{API}/installs/{{name}}", CAT),
    _r("DELETE", f"{API}/installs/{{name}}", INS),
    _r("POST", f"{API}/installs/{{name}}/run", INS),
    _r("GET", f"{API}/installs/{{name}}/fires", CAT),
    # issue 17: notifications
    _r("GET", f"{API}/notifications", V),
    _r("POST", f"{API}/notifications/test", AD),
)
"""Every route of the orchestrator with its access level, in the order the docs show them."""

_LEAST_FIRST = (
    Role.END_USER, Role.VIEWER, Role.CONFIGURER, Role.AI_DEVELOPER, Role.APP_DEVELOPER,
    Role.DEVELOPER, Role.OPERATOR, Role.DEVICE, Role.JOIN, Role.ADMIN,
)  # fmt: skip
_BY_ROUTE: dict[tuple[str, str], Rule] = {(r.method, r.path): r for r in RULES}


def rule_for(method: str, path_template: str) -> Rule | None:
    """The rule of a route (HEAD counts as GET), or None for a route the table lacks."""
    verb = "GET" if method.upper() == "HEAD" else method.upper()
    return _BY_ROUTE.get((verb, path_template))


def roles_for(method: str, path_template: str) -> frozenset[Role]:
    """The roles allowed on a route; none for a route the table lacks (deny by default)."""
    rule = rule_for(method, path_template)
    return LEVELS[rule.access] if rule is not None else frozenset()


def allowed(role: Role | str, method: str, path_template: str) -> bool:
    """Whether a token of ``role`` may call the route."""
    try:
        wanted = Role(role)
    except ValueError:
        return False
    return wanted in roles_for(method, path_template)


def is_open(method: str, path_template: str) -> bool:
    """Whether the route answers without a token."""
    rule = rule_for(method, path_template)
    return rule is not None and rule.access is Access.OPEN


def covers(holder: Role | str, granted: Role | str) -> bool:
    """Whether a user of role ``holder`` may hand out a token of role ``granted``."""
    try:
        return Role(granted) in COVERS[Role(holder)]
    except ValueError:
        return False


def needed_roles(method: str, path_template: str) -> str:
    """The roles allowed on a route as words: ``developer, operator or admin``."""
    names = [r.value for r in _LEAST_FIRST if r in roles_for(method, path_template)]
    if not names:
        return "no role (the route is not in the access table)"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def markdown_table() -> str:
    """The route table as docs/security.md shows it (one row per route)."""
    head = ["| method | route | access | roles | audited |", "|---|---|---|---|---|"]
    rows = []
    for rule in RULES:
        roles = "anyone" if rule.access is Access.OPEN else needed_roles(rule.method, rule.path)
        audited = "yes" if rule.audited else ""
        rows.append(f"| {rule.method} | `{rule.path}` | {rule.access} | {roles} | {audited} |")
    return "\n".join(head + rows) + "\n"
