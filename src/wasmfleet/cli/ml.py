"""``wasmfleet ml``: compile scikit-learn models into WebAssembly modules (docs/ml.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from wasmfleet.cli.client import fail
from wasmfleet.cli.output import err_console, note, spinner
from wasmfleet.core.errors import BadRequest, ConfigurationError, Unprocessable, WasmfleetError
from wasmfleet.ml.build import BuildOptions, BuildResult, Progress, build, check_name
from wasmfleet.ml.check import CheckData, CheckResult, digits_check_data, load_check_data
from wasmfleet.ml.routing import Generator

app = typer.Typer(
    name="ml",
    help="Compile small machine-learning models into WebAssembly modules.",
    no_args_is_help=True,
)


class CliProgress(Progress):
    """Steps on stderr (a spinner on a terminal), outcomes on stdout."""

    @contextmanager
    def step(self, message: str) -> Iterator[None]:
        """Show a long step while it runs, then how long it took."""
        started = time.monotonic()
        if not err_console.is_terminal:
            err_console.print(f"{message}...", soft_wrap=True)
        with spinner(f"{message}..."):
            yield
        err_console.print(
            f"{message}: done in {time.monotonic() - started:.1f} s", style="dim", soft_wrap=True
        )

    def info(self, message: str) -> None:
        """An outcome line."""
        note(message)

    def warn(self, message: str) -> None:
        """A warning on stderr."""
        err_console.print(Text.assemble(("warning: ", "yellow"), message), soft_wrap=True)


def percent(part: int, whole: int) -> str:
    """'99.7 %' (one decimal; never rounds a shortfall up to 100 %)."""
    value = 100.0 * part / whole if whole else 0.0
    if part < whole and value > 99.9:
        return "99.9 %"
    return f"{value:.1f} %"


def check_lines(check: CheckResult) -> list[str]:
    """What the check found, as lines for people."""
    lines = [
        f"checked on {check.source}",
        f"agreement with scikit-learn: {check.agreed}/{check.samples} = "
        f"{percent(check.agreed, check.samples)}",
    ]
    if check.sklearn_correct is not None and check.wasm_correct is not None:
        lines.append(
            f"accuracy: scikit-learn {check.sklearn_correct}/{check.samples} = "
            f"{percent(check.sklearn_correct, check.samples)}, Wasm "
            f"{check.wasm_correct}/{check.samples} = {percent(check.wasm_correct, check.samples)}"
        )
    if check.max_probability_diff is not None:
        gap = check.max_probability_diff
        shown = f"{gap:.4f}" if gap >= 0.0001 else "below 0.0001"
        lines.append(
            f"largest probability difference: {shown} (first {check.single_calls} samples)"
        )
    if check.disagreements:
        shown = ", ".join(str(i) for i in check.disagreements)
        lines.append(f"samples answered differently: {shown}")
    return lines


def choose_data(
    check_data: Path | None, check_labels: Path | None, digits: bool
) -> CheckData | None:
    """The check data the options name (None: synthetic inputs only)."""
    if digits and check_data is not None:
        fail("--digits and --check-data exclude each other; pass one.", 2)
    if check_labels is not None and check_data is None:
        fail("--check-labels needs --check-data (the features).", 2)
    if digits:
        return digits_check_data()
    if check_data is not None:
        return load_check_data(check_data, check_labels)
    return None


GENERATOR_HELP = (
    "Code generator. auto: emlearn for trees, forests and MLPs, m2cgen for linear "
    "models and SVMs (docs/ml.md lists the types)."
)


@app.command("build")
def build_command(
    model: Annotated[
        Path,
        typer.Argument(
            help="A fitted scikit-learn classifier saved with joblib.dump or pickle.dump "
            "(loading runs code from the file: use only files you trust).",
            dir_okay=False,
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(help="Module name (default: the model file's name without suffix)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The .wasm file to write (default: NAME/NAME.wasm). NAME.c and "
            "description.json are written beside it.",
            dir_okay=False,
        ),
    ] = None,
    generator: Annotated[Generator, typer.Option(help=GENERATOR_HELP)] = Generator.auto,
    check_data: Annotated[
        Path | None,
        typer.Option(
            help="Held-out data to compare the module with scikit-learn: an .npz file "
            "with arrays X (features) and y (labels, optional), or an .npy file of X.",
            dir_okay=False,
        ),
    ] = None,
    check_labels: Annotated[
        Path | None,
        typer.Option(help="Labels (.npy) for an .npy --check-data: accuracy is reported too."),
    ] = None,
    digits: Annotated[
        bool,
        typer.Option(
            "--digits",
            help="Check on scikit-learn's bundled digits, held-out split "
            "train_test_split(test_size=0.2, random_state=0, stratify=y).",
        ),
    ] = False,
    min_agreement: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Exit 1 when fewer answers than this share agree."),
    ] = 0.99,
    clang: Annotated[
        str, typer.Option(envvar="CLANG", help="The clang binary (like modules/build.sh).")
    ] = "clang",
) -> None:
    """Compile a scikit-learn classifier into a Wasm module and check it.

    Writes NAME.wasm, NAME.c (the generated C, which rebuilds the binary)
    and description.json: ready for `wasmfleet module push NAME.wasm`.

    The module's `predict` takes little-endian float32 features through the
    bytes ABI and answers JSON: {"class": C, "probabilities": [...]} for one
    sample, {"classes": [...]} for several; error code -1 for a length that
    is not a whole number of samples, -2 for NaN or infinite features.
    `n_features` and `n_classes` say what it expects. After the build, the
    module runs in wasmtime on the check data (synthetic inputs without it)
    and is compared with scikit-learn.

    Needs Debian's clang for wasm32-wasi:
    apt-get install clang lld wasi-libc libclang-rt-dev-wasm32.
    Exit status: 0 built and agreeing; 1 agreement below --min-agreement
    (the files are kept) or a failure; 2 bad input or missing toolchain.
    """
    module_name = name or model.stem
    try:
        check_name(module_name)
    except ValueError as err:
        hint = "" if name else " (pass --name)"
        fail(f"{err}{hint}", 2)
    wasm_path = out or Path(module_name) / f"{module_name}.wasm"
    if wasm_path.suffix != ".wasm":
        fail(f"--out {wasm_path} must name a .wasm file.", 2)
    if not model.is_file():
        fail(f"{model}: no such file.", 2)
    try:
        data = choose_data(check_data, check_labels, digits)
        options = BuildOptions(
            model_path=model,
            name=module_name,
            wasm_path=wasm_path,
            generator=generator,
            check=data,
            clang=clang,
        )
        result = build(options, CliProgress())
    except (BadRequest, Unprocessable, ConfigurationError) as err:
        fail(err.message, 2)
    except WasmfleetError as err:  # the compiler or the module failed
        fail(err.message, 1)
    report(result, min_agreement)


def report(result: BuildResult, min_agreement: float) -> None:
    """Print the check's outcome; exit 1 when the agreement is too low."""
    for line in check_lines(result.check):
        note(line)
    if result.check.agreement < min_agreement:
        fail(
            f"only {percent(result.check.agreed, result.check.samples)} of the answers agree "
            f"with scikit-learn (--min-agreement {min_agreement:g}); the files are kept in "
            f"{result.wasm_path.parent} for a look.",
            1,
        )
    note(f"ready: wasmfleet module push {result.wasm_path}", style="green")
