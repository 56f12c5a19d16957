"""The ``@wasmfleet`` declarations written next to a module's code (docs/declarations.md).

A declaration is a comment line whose text, after ``//``, ``///``, ``//!``, ``/*`` or the
leading ``*`` of a block comment, starts with ``@wasmfleet``; the same in C, Rust and
AssemblyScript::

    // @wasmfleet function check                 a function: NAME is the Wasm export
    // @wasmfleet summary 1 when the temperature is above the limit.
    // @wasmfleet param limit f32                in Wasm order: i32 | i64 | f32 | f64
    // @wasmfleet param reading bytes application/json   the bytes ABI's request body
    // @wasmfleet returns f32                    i32 | i64 | f32 | f64 | none | bytes MEDIA
    // @wasmfleet mount input.jpg execution image/jpeg   deployment | execution | output
    // @wasmfleet method post                    default GET; POST with a body
    // @wasmfleet module NAME [VERSION]          once per module (default: wasmfleet.toml's)

``parse_sources`` reads the declarations of every source file of a module and checks them;
every problem names its file and line, and a misspelt keyword or type gets "did you mean".
Pure: texts in, a ``ModuleDecl`` out (``core.describe_gen`` turns it into a description).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.names import is_safe_name

SCALARS = ("i32", "i64", "f32", "f64")
RETURNS = (*SCALARS, "none", "bytes")
STAGES = ("deployment", "execution", "output")
METHODS = ("get", "post")
KEYWORDS = ("function", "summary", "param", "returns", "mount", "method", "module")
OCTETS = "application/octet-stream"
MAX_PROBLEMS = 20
"""At most this many problems are listed in one error (the rest are counted)."""

_MARK = "@wasmfleet"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_MEDIA = re.compile(r"[\w.+-]+/[\w.+*-]+")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")
_TYPE_WORDS = {
    "int": "i32", "int32": "i32", "int32_t": "i32", "integer": "i32", "u32": "i32",
    "uint32_t": "i32", "bool": "i32", "int64": "i64", "int64_t": "i64", "long": "i64",
    "u64": "i64", "float": "f32", "number": "f64", "double": "f64", "void": "none",
    "()": "none", "string": "bytes", "str": "bytes", "&[u8]": "bytes", "vec<u8>": "bytes",
    "uint8array": "bytes", "arraybuffer": "bytes",
}  # fmt: skip
"""Words people write for a type, and the declaration type they mean."""


@dataclass(frozen=True, slots=True)
class Where:
    """A source line: ``file:line``."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class ParamDecl:
    """``param NAME TYPE [MEDIA]``: a Wasm scalar, or the request body (``bytes``)."""

    name: str
    type: str
    media_type: str | None
    where: Where


@dataclass(frozen=True, slots=True)
class MountDecl:
    """``mount NAME STAGE [MEDIA]``: a file the function reads or writes through WASI."""

    name: str
    stage: str
    media_type: str
    where: Where


@dataclass(frozen=True, slots=True)
class FunctionDecl:
    """Everything declared for one exported function."""

    name: str
    where: Where
    summary: str = ""
    params: tuple[ParamDecl, ...] = ()
    returns: str = "none"
    """i32 | i64 | f32 | f64 | none | bytes."""
    returns_media: str | None = None
    mounts: tuple[MountDecl, ...] = ()
    method: str | None = None
    """GET or POST when declared, else None (the default is worked out from the rest)."""

    @property
    def body(self) -> ParamDecl | None:
        """The ``bytes`` parameter (the bytes ABI's request body), if any."""
        return next((p for p in self.params if p.type == "bytes"), None)

    @property
    def http_method(self) -> str:
        """GET or POST: as declared, else POST when there is a body or an execution mount."""
        if self.method:
            return self.method
        posted = self.body is not None or any(m.stage == "execution" for m in self.mounts)
        return "POST" if posted else "GET"


@dataclass(frozen=True, slots=True)
class ModuleDecl:
    """The declarations of a module: its functions in source order, its name and version."""

    functions: tuple[FunctionDecl, ...]
    name: str | None = None
    version: str | None = None


class DeclarationError(InvalidDocument):
    """Some declarations are wrong; ``problems`` lists each as ``file:line: sentence``."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_PROBLEMS]
        more = len(problems) - len(shown)
        tail = [f"... and {more} more"] if more else []
        head = (
            "The @wasmfleet declarations have a problem"
            if len(problems) == 1
            else (f"The @wasmfleet declarations have {len(problems)} problems")
        )
        super().__init__(head + ":\n" + "\n".join(["  " + p for p in [*shown, *tail]]))
        self.problems = tuple(problems)


def declaration_text(line: str) -> str | None:
    """The text after ``@wasmfleet`` when ``line`` is a declaration comment, else None."""
    text = line.strip()
    if text.startswith("//"):
        text = text[2:].lstrip("/!")
    elif text.startswith("/*"):
        text = text[2:].lstrip("*!")
    elif text.startswith("*") and not text.startswith("*/"):
        text = text[1:]
    else:
        return None
    text = text.strip()
    if text.endswith("*/"):
        text = text[:-2].rstrip()
    if not text.startswith(_MARK):
        return None
    return text[len(_MARK) :]


@dataclass
class _Function:
    name: str
    where: Where
    summary: str = ""
    params: list[ParamDecl] = field(default_factory=list)
    returns: tuple[str, str | None, Where] | None = None
    mounts: list[MountDecl] = field(default_factory=list)
    method: tuple[str, Where] | None = None
    summary_at: Where | None = None


class _Parser:
    def __init__(self) -> None:
        self.problems: list[tuple[int, int, str]] = []
        self.files: list[str] = []
        self.functions: list[_Function] = []
        self.seen: dict[str, Where] = {}
        self.module: tuple[str, str | None, Where] | None = None
        self.current: _Function | None = None

    def fail(self, where: Where, sentence: str) -> None:
        order = self.files.index(where.file) if where.file in self.files else len(self.files)
        self.problems.append((order, where.line, f"{where}: {sentence}"))

    def file(self, name: str, text: str) -> None:
        self.current = None  # a function's declarations stay in its file
        self.files.append(name)
        for number, line in enumerate(text.splitlines(), start=1):
            rest = declaration_text(line)
            if rest is not None:
                self.line(Where(name, number), rest)

    def line(self, where: Where, rest: str) -> None:
        if rest and not rest[0].isspace():
            self.fail(where, f"write a space after {_MARK}, as in '{_MARK} function NAME'.")
            return
        words = rest.split()
        if not words:
            self.fail(where, f"{_MARK} needs a keyword: {', '.join(KEYWORDS)}.")
            return
        keyword, args = words[0], words[1:]
        if keyword not in KEYWORDS:
            self.fail(where, f"unknown keyword {keyword!r}{_did_you_mean(keyword, KEYWORDS)}.")
            return
        if keyword == "function":
            self.start(where, args)
        elif keyword == "module":
            self.module_line(where, args)
        elif self.current is None:
            self.fail(
                where,
                f"'{keyword}' must follow a '{_MARK} function NAME' line in the same file.",
            )
        elif keyword == "summary":
            self.summary(where, rest.strip()[len("summary") :].strip())
        elif keyword == "param":
            self.param(where, self.current, args)
        elif keyword == "returns":
            self.returns(where, self.current, args)
        elif keyword == "mount":
            self.mount(where, self.current, args)
        else:
            self.method(where, self.current, args)

    def start(self, where: Where, args: list[str]) -> None:
        self.current = None
        if len(args) != 1:
            self.fail(where, "write 'function NAME' with the Wasm export's name, e.g. 'check'.")
            return
        name = args[0]
        if not _NAME.fullmatch(name):
            self.fail(where, f"function name {name!r} must be letters, digits and '_'.")
            return
        if name in self.seen:
            self.fail(where, f"function {name} is already declared at {self.seen[name]}.")
            return
        self.seen[name] = where
        self.current = _Function(name, where)
        self.functions.append(self.current)

    def module_line(self, where: Where, args: list[str]) -> None:
        if self.module is not None:
            self.fail(where, f"the module is already declared at {self.module[2]}.")
            return
        if not 1 <= len(args) <= 2:
            self.fail(where, "write 'module NAME [VERSION]', e.g. 'module alarm 1.0.0'.")
            return
        if not is_safe_name(args[0]):
            self.fail(where, f"module name {args[0]!r} must be letters, digits, '.', '_', '-'.")
            return
        version = args[1] if len(args) == 2 else None
        if version is not None and not _VERSION.fullmatch(version):
            self.fail(where, f"module version {version!r} must look like 1.0.0.")
            return
        self.module = (args[0], version, where)

    def summary(self, where: Where, text: str) -> None:
        function = self.current
        assert function is not None
        if not text:
            self.fail(where, "'summary' needs a sentence after it.")
        elif function.summary_at is not None:
            self.fail(where, f"{function.name} already has a summary at {function.summary_at}.")
        else:
            function.summary, function.summary_at = text, where

    def param(self, where: Where, function: _Function, args: list[str]) -> None:
        if len(args) < 2 or len(args) > 3:
            self.fail(
                where,
                "write 'param NAME TYPE' (i32, i64, f32, f64) or 'param NAME bytes MEDIA-TYPE'.",
            )
            return
        name, kind = args[0], args[1]
        if not _NAME.fullmatch(name):
            self.fail(where, f"parameter name {name!r} must be letters, digits and '_'.")
            return
        if kind not in (*SCALARS, "bytes"):
            self.fail(where, _unknown_type(kind, (*SCALARS, "bytes")))
            return
        media = self.media(where, args[2] if len(args) == 3 else None, kind)
        if any(p.name == name for p in function.params):
            self.fail(where, f"{function.name} already has a parameter {name}.")
            return
        function.params.append(ParamDecl(name, kind, media, where))

    def returns(self, where: Where, function: _Function, args: list[str]) -> None:
        if not 1 <= len(args) <= 2:
            self.fail(
                where,
                "write 'returns TYPE' (i32, i64, f32, f64, none) or 'returns bytes MEDIA-TYPE'.",
            )
            return
        if function.returns is not None:
            self.fail(where, f"{function.name} already returns at {function.returns[2]}.")
            return
        if args[0] not in RETURNS:
            self.fail(where, _unknown_type(args[0], RETURNS))
            return
        media = self.media(where, args[1] if len(args) == 2 else None, args[0])
        function.returns = (args[0], media, where)

    def mount(self, where: Where, function: _Function, args: list[str]) -> None:
        if not 2 <= len(args) <= 3:
            self.fail(
                where,
                "write 'mount FILE STAGE [MEDIA-TYPE]', e.g. "
                "'mount input.jpg execution image/jpeg'.",
            )
            return
        name, stage = args[0], args[1]
        if not is_safe_name(name):
            self.fail(where, f"mount {name!r} must be a plain file name (no '/', no '..').")
            return
        if stage not in STAGES:
            self.fail(
                where,
                f"unknown stage {stage!r}{_did_you_mean(stage, STAGES)}; use {', '.join(STAGES)}.",
            )
            return
        if any(m.name == name for m in function.mounts):
            self.fail(where, f"{function.name} already mounts {name}.")
            return
        media = self.media(where, args[2] if len(args) == 3 else None, "file") or OCTETS
        function.mounts.append(MountDecl(name, stage, media, where))

    def method(self, where: Where, function: _Function, args: list[str]) -> None:
        word = args[0].lower() if len(args) == 1 else ""
        if word not in METHODS:
            self.fail(where, "write 'method get' or 'method post'.")
        elif function.method is not None:
            self.fail(where, f"{function.name} already has a method at {function.method[1]}.")
        else:
            function.method = (word.upper(), where)

    def media(self, where: Where, raw: str | None, kind: str) -> str | None:
        if raw is None:
            return OCTETS if kind in ("bytes", "file") else None
        if kind not in ("bytes", "file"):
            self.fail(where, f"only bytes and mounts take a media type, not {kind}.")
            return None
        if not _MEDIA.fullmatch(raw):
            self.fail(where, f"{raw!r} is not a media type like application/json or image/jpeg.")
            return OCTETS
        return raw.lower()

    def finish(self, function: _Function) -> FunctionDecl:
        returns, media = ("none", None) if function.returns is None else function.returns[:2]
        self.check(function, returns)
        return FunctionDecl(
            name=function.name,
            where=function.where,
            summary=function.summary,
            params=tuple(function.params),
            returns=returns,
            returns_media=media,
            mounts=tuple(function.mounts),
            method=function.method[0] if function.method else None,
        )

    def check(self, function: _Function, returns: str) -> None:
        """The rules that need a function's declarations as a whole."""
        name, where = function.name, function.where
        body = [p for p in function.params if p.type == "bytes"]
        executions = [m.name for m in function.mounts if m.stage == "execution"]
        outputs = [m for m in function.mounts if m.stage == "output"]
        if body and len(function.params) > 1:
            self.fail(
                body[0].where,
                f"{name} takes bytes, so it can have no other parameter: "
                "the bytes ABI passes the body alone, as (i32 ptr, i32 len).",
            )
        if body and executions:
            self.fail(
                body[0].where,
                f"{name} takes bytes and execution mount(s) "
                f"{', '.join(executions)}; a request has one body: keep one of them.",
            )
        if returns == "bytes" and not body:
            self.fail(
                where,
                f"{name} returns bytes, which the bytes ABI gives only to a function "
                f"taking bytes: add '{_MARK} param body bytes MEDIA-TYPE'.",
            )
        if returns == "bytes" and outputs:
            self.fail(
                where,
                f"{name} returns bytes and has output mount {outputs[0].name}; "
                "a function has one output: keep one of them.",
            )
        if len(outputs) > 1:
            self.fail(
                outputs[1].where,
                f"{name} has a second output mount; the result is one file ({outputs[0].name}).",
            )
        if function.method and function.method[0] == "GET" and (body or executions):
            sent = "a bytes body" if body else "execution mounts (multipart)"
            self.fail(
                function.method[1],
                f"{name} takes {sent}, which only POST carries: "
                "write 'method post' or leave the method out.",
            )


def parse_sources(sources: Mapping[str, str]) -> ModuleDecl:
    """The declarations in ``sources`` (file name -> text, in the order given); raises
    DeclarationError naming every problem's file and line."""
    parser = _Parser()
    for name, text in sources.items():
        parser.file(name, text)
    functions = tuple(parser.finish(f) for f in parser.functions)
    if parser.problems:
        raise DeclarationError([text for *_, text in sorted(parser.problems)])
    module = parser.module
    return ModuleDecl(
        functions=functions,
        name=module[0] if module else None,
        version=module[1] if module else None,
    )


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _unknown_type(word: str, choices: tuple[str, ...]) -> str:
    spelt = difflib.get_close_matches(word.lower(), [*choices, *_TYPE_WORDS], n=1, cutoff=0.6)
    meant = _TYPE_WORDS.get(spelt[0], spelt[0]) if spelt else None
    hint = f" (did you mean {meant}?)" if meant in choices else ""
    return f"unknown type {word!r}{hint}; use {', '.join(choices)}."
