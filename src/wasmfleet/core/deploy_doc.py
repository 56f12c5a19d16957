"""Parse the body of ``POST /deploy`` in either wire shape into a ``DeploymentSpec``.

*README shape* (the wasmiot supervisor README): ``instructions.modules[M][F]`` holds an
OpenAPI ``paths`` object and ``to``; ``urls.other`` is a list of URLs.

Each module may name the sha256 of its binary (``sha256``), of its data files
(``files_sha256``: name -> sha256) and of its description's bytes (``description_sha256``);
a device checks what it downloads against them and may reuse what it holds by them.

*Orchestrator shape* (what the wasmiot orchestrator sends): ``endpoints[M][F]`` holds
url/path/method/request/response, ``instructions.modules[M][F]`` holds from/to,
``mounts[M][F]`` lists mounts per stage, and ``urls.other`` maps file names to URLs.

A module's fetched description can complete functions later (``complete_from_description``).

In both shapes ``instructions.modules[M][F]`` may also carry ``trigger`` and ``publish``
(MQTT topics, see ``core.deploy_streams``), and an app install's ``things`` and ``params``
(``core.step_things``: what the host functions ``wasmfleet.thing_read``, ``thing_send`` and
``param`` serve). Both shapes may carry ``epoch`` (an int >= 0,
the deployment's generation; absent = 0) and ``fencing`` (``{"lease_s": float >= 0,
"stateful": [{"module", "function"}, ...]}``), and ``bridges`` (store-and-forward bridges to
run, ``core.bridge_step.parse_bridges``); a document with bridges may have no modules.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from wasmfleet.core.bridge_step import parse_bridges
from wasmfleet.core.deploy_streams import check_url, parse_publish, parse_target, parse_trigger
from wasmfleet.core.errors import InvalidDocument, Unprocessable
from wasmfleet.core.models import DeploymentSpec, FunctionSpec, ModuleSpec, Mount
from wasmfleet.core.names import check_file_name, check_identifier
from wasmfleet.core.openapi import (
    as_object,
    description_operations,
    operation_bytes,
    operation_mounts,
    operation_params,
    operation_response,
    parse_mount_list,
    pick_operation,
    raw_body_media,
)
from wasmfleet.core.step_things import parse_step_params, parse_step_things

_SHA256_HEX = frozenset("0123456789abcdef")


def parse_deployment(body: Any) -> DeploymentSpec:
    """Validate a deploy body of either shape; raise InvalidDocument saying what is wrong."""
    if not isinstance(body, dict):
        raise InvalidDocument("The deployment must be a JSON object with deploymentId and modules.")
    if "deploymentId" not in body:
        raise InvalidDocument("The deployment has no 'deploymentId'.")
    dep_id = body["deploymentId"]
    if isinstance(dep_id, int) and not isinstance(dep_id, bool):
        dep_id = str(dep_id)
    dep_id = check_identifier("deploymentId", dep_id)
    bridges = parse_bridges(body.get("bridges"))
    modules = _parse_modules(body.get("modules"), allow_empty=bool(bridges))
    is_orchestrator = isinstance(body.get("endpoints"), dict)
    instructions = body.get("instructions", {})
    if instructions is None:
        instructions = {}
    if not isinstance(instructions, dict):
        raise InvalidDocument("'instructions' must be an object like {\"modules\": {...}}.")
    per_module = instructions.get("modules", {}) or {}
    if not isinstance(per_module, dict):
        raise InvalidDocument("'instructions.modules' must map module names to functions.")
    names = {m.name for m in modules}
    for mod_name, funcs in per_module.items():
        if not isinstance(funcs, dict):
            raise InvalidDocument(
                f"instructions.modules.{mod_name} must map function names to instructions."
            )
        if mod_name not in names:
            raise InvalidDocument(
                f"'instructions.modules' names module {mod_name!r}, which is not in 'modules' "
                f"(modules: {', '.join(sorted(names))})."
            )
    if is_orchestrator:
        for mod_name in body["endpoints"]:
            if mod_name not in names:
                raise InvalidDocument(
                    f"'endpoints' names module {mod_name!r}, which is not in 'modules' "
                    f"(modules: {', '.join(sorted(names))})."
                )
        functions = _orchestrator_functions(body, per_module, dep_id)
    else:
        functions = _readme_functions(per_module, dep_id)
    lease_s, stateful = _parse_fencing(body.get("fencing"))
    return DeploymentSpec(
        id=dep_id,
        modules=modules,
        functions=functions,
        shape="orchestrator" if is_orchestrator else "readme",
        epoch=_parse_epoch(body.get("epoch")),
        lease_s=lease_s,
        stateful=stateful,
        bridges=bridges,
    )


MAX_LEASE_S = 10**9
"""The longest lease a document may give (about 31 years): larger is a mistake."""


def _parse_epoch(raw: Any) -> int:
    if raw is None:
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < 2**63:
        raise InvalidDocument(
            f"'epoch' must be a whole number >= 0 (the deployment's generation; leave it out "
            f"for 0), got {raw!r}."
        )
    return raw


def _parse_fencing(raw: Any) -> tuple[float, frozenset[tuple[str, str]]]:
    """``fencing`` -> (lease_s, {(module, function)}); absent means no lease, nothing stateful."""
    if raw is None:
        return 0.0, frozenset()
    if not isinstance(raw, dict):
        raise InvalidDocument(
            '\'fencing\' must be an object like {"lease_s": 1.5, "stateful": '
            f'[{{"module": "m", "function": "f"}}]}}, got {raw!r}.'
        )
    lease = raw.get("lease_s", 0.0)
    if lease is None:
        lease = 0.0
    if isinstance(lease, int) and not isinstance(lease, bool) and abs(lease) <= MAX_LEASE_S:
        lease = float(lease)  # a larger int would not convert to a float (OverflowError)
    if not isinstance(lease, float) or not math.isfinite(lease) or lease > MAX_LEASE_S:
        raise InvalidDocument(
            f"'fencing.lease_s' must be a number of seconds up to {MAX_LEASE_S}, got {lease!r}."
        )
    if lease < 0:
        raise InvalidDocument(f"'fencing.lease_s' must be 0 or more seconds, got {lease!r}.")
    items = raw.get("stateful") or []
    if not isinstance(items, list):
        raise InvalidDocument(
            '\'fencing.stateful\' must be a list of {"module": ..., "function": ...} objects.'
        )
    stateful: set[tuple[str, str]] = set()
    for i, item in enumerate(items):
        where = f"fencing.stateful[{i}]"
        if not isinstance(item, dict):
            raise InvalidDocument(
                f'{where} must be an object like {{"module": "m", "function": "f"}}, got {item!r}.'
            )
        module = check_identifier(f"{where}.module", item.get("module"))
        stateful.add((module, check_identifier(f"{where}.function", item.get("function"))))
    return float(lease), frozenset(stateful)


def complete_from_description(
    spec: DeploymentSpec, module: str, description: Any
) -> DeploymentSpec:
    """Fill in what a module's description adds: functions when none were listed for the
    module, and parameter names and mounts a function's instructions left out."""
    if not isinstance(description, dict):
        raise Unprocessable(
            f"The description of module {module!r} must be an OpenAPI object with 'paths', "
            f"not a JSON {type(description).__name__}."
        )
    try:
        return _complete(spec, module, description)
    except InvalidDocument as err:
        raise Unprocessable(f"The description of module {module!r} is not usable: {err}") from None


def _complete(spec: DeploymentSpec, module: str, description: dict[str, Any]) -> DeploymentSpec:
    ops = description_operations(description)
    if not ops:
        return spec
    listed = spec.functions_of(module)
    functions = list(spec.functions)
    if not listed:
        for fn_name, (method, op) in ops.items():
            functions.append(_function_from_operation(module, fn_name, method, op))
    else:
        for i, fn in enumerate(functions):
            if fn.module != module or fn.name not in ops:
                continue
            method, op = ops[fn.name]
            where = f"description of {module}.{fn.name}"
            params = fn.params or operation_params(op, where)
            mounts = fn.mounts or operation_mounts(op, where) or ()
            media, schema = (fn.response_media_type, fn.response_schema)
            if not media:
                media, schema = operation_response(op)
            bytes_in, bytes_out = operation_bytes(op, where)
            functions[i] = replace(
                fn,
                params=params,
                mounts=mounts,
                response_media_type=media,
                response_schema=schema,
                bytes_input=fn.bytes_input or bytes_in,
                bytes_output=fn.bytes_output or bytes_out,
            )
    return replace(spec, functions=tuple(functions))


def _parse_modules(raw: Any, *, allow_empty: bool = False) -> tuple[ModuleSpec, ...]:
    if allow_empty and (raw is None or raw == []):
        return ()
    if not isinstance(raw, list) or not raw:
        raise InvalidDocument("'modules' must be a non-empty list of {id, name, urls}.")
    modules: list[ModuleSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"modules[{i}]"
        if not isinstance(item, dict):
            raise InvalidDocument(f"{where} must be an object with id, name and urls.")
        name = check_identifier(f"{where}.name", item.get("name"))
        if name in seen:
            raise InvalidDocument(f"Module name {name!r} appears twice in 'modules'.")
        seen.add(name)
        urls = item.get("urls")
        if not isinstance(urls, dict) or not isinstance(urls.get("binary"), str):
            raise InvalidDocument(f"{where}.urls.binary must be the URL of the .wasm file.")
        binary = check_url(urls["binary"], f"{where}.urls.binary")
        description = urls.get("description")
        if description is not None:
            description = check_url(description, f"{where}.urls.description")
        modules.append(
            ModuleSpec(
                id=str(item.get("id", name)),
                name=name,
                binary_url=binary,
                description_url=description or None,
                other=_parse_other(urls.get("other"), f"{where}.urls.other"),
                sha256=_check_sha(item.get("sha256", urls.get("sha256")), f"{where}.sha256"),
                file_sha256=_parse_file_shas(item.get("files_sha256"), f"{where}.files_sha256"),
                description_sha256=_description_sha(item, description, where),
            )
        )
    return tuple(modules)


def _description_sha(item: dict[str, Any], url: str | None, where: str) -> str | None:
    sha = _check_sha(item.get("description_sha256"), f"{where}.description_sha256")
    if sha is not None and not url:
        raise InvalidDocument(
            f"{where}.description_sha256 is given but {where}.urls.description is not; "
            "give the description's URL or leave its sha256 out."
        )
    return sha


def _parse_other(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, list):
        for i, url in enumerate(raw):
            url = check_url(url, f"{where}[{i}]")
            name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
            pairs.append((check_file_name(name, what=f"{where}[{i}] file name"), url))
    elif isinstance(raw, dict):
        for name, url in raw.items():
            check_file_name(str(name), what=f"{where} file name")
            pairs.append((str(name), check_url(url, f"{where}.{name}")))
    else:
        raise InvalidDocument(f"{where} must be a list of URLs or an object of name: URL.")
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise InvalidDocument(f"{where} names the same data file twice.")
    return tuple(pairs)


def _parse_file_shas(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise InvalidDocument(f"{where} must map data file names to sha256 hex digests.")
    return tuple((str(k), _check_sha(v, f"{where}.{k}") or "") for k, v in raw.items())


def _check_sha(raw: Any, where: str) -> str | None:
    if raw is None or raw == "":
        return None
    text = str(raw).lower().removeprefix("sha256:")
    if len(text) != 64 or not set(text) <= _SHA256_HEX:
        raise InvalidDocument(f"{where} must be a 64-character hex sha256, got {raw!r}.")
    return text


def _readme_functions(per_module: dict[str, Any], dep_id: str) -> tuple[FunctionSpec, ...]:
    functions: list[FunctionSpec] = []
    for mod_name, funcs in per_module.items():  # parse_deployment checked funcs is an object
        for fn_name, instr in funcs.items():
            where = f"instructions.modules.{mod_name}.{fn_name}"
            check_identifier(f"function name in {where}", fn_name)
            if not isinstance(instr, dict):
                raise InvalidDocument(f"{where} must be an object with 'paths' and 'to'.")
            paths = instr.get("paths")
            if not isinstance(paths, dict) or len(paths) != 1:
                raise InvalidDocument(f"{where}.paths must hold exactly one OpenAPI path item.")
            path_key, item = next(iter(paths.items()))
            method, op = pick_operation(item, f"{where}.paths[{path_key!r}]")
            fn = _function_from_operation(mod_name, fn_name, method, op)
            functions.append(_with_routes(fn, instr, where, dep_id))
    return tuple(functions)


def _function_from_operation(
    module: str, name: str, method: str, op: dict[str, Any]
) -> FunctionSpec:
    where = f"{module}.{name}"
    media, schema = operation_response(op)
    mounts = operation_mounts(op, where) or ()
    for mount in mounts:
        check_file_name(mount.name, what=f"mount name in {where}")
    bytes_in, bytes_out = operation_bytes(op, where)
    return FunctionSpec(
        module=module,
        name=name,
        method=method,
        params=operation_params(op, where),
        response_media_type=media,
        response_schema=schema,
        mounts=mounts,
        bytes_input=bytes_in,
        bytes_output=bytes_out,
    )


def _orchestrator_functions(
    body: dict[str, Any], per_module: dict[str, Any], dep_id: str
) -> tuple[FunctionSpec, ...]:
    endpoints = body["endpoints"]
    mounts_doc = body.get("mounts") or {}
    if not isinstance(mounts_doc, dict):
        raise InvalidDocument("'mounts' must map module names to functions to mount lists.")
    functions: list[FunctionSpec] = []
    for mod_name, funcs in endpoints.items():
        if not isinstance(funcs, dict):
            raise InvalidDocument(f"endpoints.{mod_name} must map function names to endpoints.")
        for fn_name, ep in funcs.items():
            where = f"endpoints.{mod_name}.{fn_name}"
            check_identifier(f"function name in {where}", fn_name)
            if not isinstance(ep, dict):
                raise InvalidDocument(f"{where} must be an endpoint object.")
            request = as_object(ep.get("request"))
            params = operation_params({"parameters": request.get("parameters") or []}, where)
            body_media = str(as_object(request.get("request_body")).get("media_type") or "")
            response = as_object(ep.get("response"))
            schema = as_object(response.get("schema"))
            instr = (per_module.get(mod_name) or {}).get(fn_name) or {}
            if not isinstance(instr, dict):
                raise InvalidDocument(
                    f"instructions.modules.{mod_name}.{fn_name} must be an object."
                )
            spec = FunctionSpec(
                module=mod_name,
                name=fn_name,
                method=str(ep.get("method", "GET")).upper(),
                params=params,
                response_media_type=str(response.get("media_type", "application/json")),
                response_schema=schema,
                mounts=_orchestrator_mounts(mounts_doc, mod_name, fn_name),
                bytes_input=raw_body_media(body_media),
            )
            iwhere = f"instructions.modules.{mod_name}.{fn_name}"
            functions.append(_with_routes(spec, instr, iwhere, dep_id))
    return tuple(functions)


def _with_routes(fn: FunctionSpec, instr: dict[str, Any], where: str, dep_id: str) -> FunctionSpec:
    """``fn`` with the ``to``, ``trigger``, ``publish``, ``things`` and ``params`` of its
    instructions."""
    return replace(
        fn,
        to=parse_target(instr.get("to"), f"{where}.to", dep_id),
        trigger=parse_trigger(instr.get("trigger"), f"{where}.trigger"),
        publish=parse_publish(instr.get("publish"), f"{where}.publish"),
        things=parse_step_things(instr.get("things"), f"{where}.things"),
        app_params=parse_step_params(instr.get("params"), f"{where}.params"),
    )


def _orchestrator_mounts(doc: dict[str, Any], module: str, function: str) -> tuple[Mount, ...]:
    per_fn = as_object(doc.get(module)).get(function)
    if per_fn is None:
        return ()
    where = f"mounts.{module}.{function}"
    if not isinstance(per_fn, dict):
        raise InvalidDocument(f"{where} must map stages to lists of mounts.")
    mounts: list[Mount] = []
    for stage in ("deployment", "execution", "output"):
        items = per_fn.get(stage) or []
        if isinstance(items, list):
            items = [
                {**m, "stage": m.get("stage", stage)} if isinstance(m, dict) else m for m in items
            ]
        mounts.extend(parse_mount_list(items, f"{where}.{stage}"))
    for mount in mounts:
        check_file_name(mount.name, what=f"mount name in {where}")
    return tuple(mounts)
