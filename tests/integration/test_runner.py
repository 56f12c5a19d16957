"""``wasmfleet run`` as a user runs it: a real process, the committed example modules, real
wasmtime. Scalars by position and by name, state kept across calls, execution and deployment
mounts, output files, the bytes ABI, the simulated camera/DHT/broker, and failures: traps and
limits exit 1 with the supervisor's sentence, usage errors exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import MODULES, REPO

SAMPLE = REPO / "src" / "wasmfleet" / "assets" / "sample.jpg"


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """``wasmfleet run ARGS`` in ``cwd``; its exit code, stdout (bytes) and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "wasmfleet", "run", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        timeout=60,
        check=False,
    )


def wasm(module: str) -> Path:
    return MODULES / module / f"{module}.wasm"


def out(done: subprocess.CompletedProcess[bytes]) -> list[str]:
    return done.stdout.decode().splitlines()


def err(done: subprocess.CompletedProcess[bytes]) -> str:
    return done.stderr.decode()


def test_scalar_by_position_and_by_name(tmp_path: Path) -> None:
    done = run(wasm("fibo"), "fibo", "7", cwd=tmp_path)
    assert (done.returncode, out(done)) == (0, ["13"]), err(done)
    done = run(wasm("fibo"), "fibo", "iterations=90", "--json", cwd=tmp_path)
    assert done.returncode == 0, err(done)
    line = json.loads(done.stdout)
    assert line["result"] == "2880067194370816120"  # i64 as the supervisor's text
    assert (line["function"], line["success"], line["output"]) == ("fibo", True, None)


def test_state_is_kept_across_the_calls_of_a_run(tmp_path: Path) -> None:
    done = run(
        wasm("counter"), "count", "--repeat", "3", "--then", "add 10", "--then", "count",
        cwd=tmp_path,
    )  # fmt: skip
    assert (done.returncode, out(done)) == (0, ["1", "2", "3", "13", "14"]), err(done)
    # a new run is a new instance: the state starts over, as after a device restart
    assert out(run(wasm("counter"), "count", cwd=tmp_path)) == ["1"]


def test_execution_mount_from_a_file(tmp_path: Path) -> None:
    from PIL import Image

    with Image.open(SAMPLE) as picture:
        width, height = picture.size
    done = run(wasm("imginfo"), "pixels", "--file", f"image.jpg={SAMPLE}", cwd=tmp_path)
    assert (done.returncode, out(done)) == (0, [str(width * height)]), err(done)
    done = run(wasm("imginfo"), "width", "--file", f"image.jpg={SAMPLE}", cwd=tmp_path)
    assert out(done) == [str(width)]


def test_missing_mount_is_a_usage_error_that_says_how(tmp_path: Path) -> None:
    done = run(wasm("imginfo"), "pixels", cwd=tmp_path)
    assert done.returncode == 2
    assert "imginfo.pixels needs the file(s) 'image.jpg' (give it with --file image.jpg=PATH)" in (
        err(done)
    )
    done = run(wasm("imginfo"), "pixels", "--file", "nope.jpg=x.jpg", cwd=tmp_path)
    assert done.returncode == 2
    assert "--file nope.jpg: module 'imginfo' has no mount of that name" in err(done)


def test_deployment_file_beside_the_wasm_and_output_file_in_out(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("hello wasm\n")
    results = tmp_path / "results"
    done = run(wasm("stamp"), "stamp", "--file", "input.txt=in.txt", "--out", results, cwd=tmp_path)
    assert done.returncode == 0, err(done)
    written = results / "output.txt"
    assert out(done) == [str(written)]
    prefix = (MODULES / "stamp" / "prefix.txt").read_text()
    assert written.read_text() == prefix + "HELLO WASM\n"
    # the deployment-stage file can be replaced from the command line
    (tmp_path / "p.txt").write_text(">> ")
    done = run(
        wasm("stamp"), "stamp", "--file", "input.txt=in.txt", "--file", "prefix.txt=p.txt",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, err(done)
    assert (tmp_path / "output.txt").read_text() == ">> HELLO WASM\n"


def test_camera_takes_the_given_picture(tmp_path: Path) -> None:
    done = run(wasm("camera"), "take_image", "--camera", SAMPLE, cwd=tmp_path)
    assert done.returncode == 0, err(done)
    assert out(done) == [str(tmp_path / "image.jpeg")]
    assert (tmp_path / "image.jpeg").read_bytes() == SAMPLE.read_bytes()


def test_camera_converts_another_picture_format(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (32, 24), (200, 10, 10)).save(tmp_path / "red.png")
    done = run(wasm("camera"), "take_image", "--camera", "red.png", cwd=tmp_path)
    assert done.returncode == 0, err(done)
    with Image.open(tmp_path / "image.jpeg") as taken:
        assert (taken.format, taken.size) == ("JPEG", (32, 24))
    done = run(wasm("camera"), "take_image", "--camera", "missing.jpg", cwd=tmp_path)
    assert done.returncode == 2
    assert "--camera missing.jpg: no such file or folder." in err(done)


def test_sensors_read_the_given_values_and_prints_go_to_stderr(tmp_path: Path) -> None:
    done = run(
        wasm("sensors"), "temperature", "--temperature", "30.25", "--humidity", "12.5",
        "--then", "humidity", "--then", "hello", "--then", "shout", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, err(done)
    temperature, humidity, slept_ms, shouted = out(done)
    assert (temperature, humidity, shouted) == ("30.25", "12.5", "0")
    assert slept_ms.isdigit()  # hello returns the milliseconds sys.delay(5) took
    lines = err(done).splitlines()
    printed = ["[sys.print] hello ", "[sys.println] from wasm", "[sys.printInt] 42"]
    assert lines == [*printed, "[stdout] shout"]


def test_bytes_function_takes_data_and_prints_its_output(tmp_path: Path) -> None:
    done = run(wasm("thermo"), "check", "--data", '{"temperature": 31.5}', cwd=tmp_path)
    assert done.returncode == 0, err(done)
    alert = json.loads(done.stdout)
    assert (alert["alert"], alert["celsius"], alert["threshold"]) == ("over-threshold", 31.5, 30)
    (tmp_path / "reading.json").write_text('{"celsius": 12}')
    done = run(wasm("thermo"), "celsius", "--data-file", "reading.json", cwd=tmp_path)
    assert (done.returncode, out(done)) == (0, ["12.0"]), err(done)
    # state and bytes together: a lower threshold, then the same reading alerts
    done = run(
        wasm("thermo"), "set_threshold", "10", "--then", "check", "--data", "12", cwd=tmp_path
    )
    assert done.returncode == 0, err(done)
    first, rest = done.stdout.split(b"\n", 1)
    assert first == b"10.0" and json.loads(rest)["threshold"] == 10


def test_rejected_input_fails_with_the_supervisors_sentence(tmp_path: Path) -> None:
    done = run(wasm("thermo"), "check", "--data", "warm", "--json", cwd=tmp_path)
    assert done.returncode == 1
    line = json.loads(done.stdout)
    assert line == {
        "function": "check",
        "success": False,
        "error": "thermo.check rejected its input (error code -1).",
        "code": "rejected",
    }
    assert "error: thermo.check rejected its input (error code -1)." in err(done)


def test_publish_is_printed(tmp_path: Path) -> None:
    done = run(wasm("thermo"), "annotate", "--data", "22.5", cwd=tmp_path)
    assert (done.returncode, out(done)) == (0, ["0"]), err(done)
    assert 'publish topic=thermo/readings qos=1 27 bytes: {"topic":"","celsius":22.5}' in err(done)
    done = run(wasm("thermo"), "annotate", "--data", "22.5", "--no-broker-print", cwd=tmp_path)
    assert done.returncode == 1
    assert "needs imports wasmfleet run does not offer: wasmfleet.message_topic" in err(done)
    assert "(drop --no-broker-print to offer them)" in err(done)


@pytest.mark.parametrize(
    ("call", "sentence"),
    [
        (["divide", "1", "0"], "faults.divide trapped: wasm trap: integer divide by zero"),
        (["crash"], "faults.crash trapped: wasm trap: wasm `unreachable` instruction executed"),
        (["recurse", "0"], "faults.recurse trapped: wasm trap: call stack exhausted"),
        (
            ["spin", "--timeout", "0.3"],
            "faults.spin ran longer than its 0.3 s limit and was stopped",
        ),
        (
            ["hog", "4", "--memory", "32"],
            "faults.hog failed after growing its memory to",
        ),
    ],
)
def test_traps_and_limits_exit_1_with_a_sentence(
    tmp_path: Path, call: list[str], sentence: str
) -> None:
    done = run(wasm("faults"), *call, cwd=tmp_path)
    assert done.returncode == 1, err(done)
    assert f"error: {sentence}" in err(done)
    assert done.stdout == b""


def test_memory_limit_names_the_limit_given(tmp_path: Path) -> None:
    done = run(wasm("faults"), "hog", "4", "--memory", "32", cwd=tmp_path)
    assert "of the 32 MiB limit" in err(done)


@pytest.mark.parametrize(
    ("call", "sentence"),
    [
        (["fibo", "seven"], "Argument 'iterations' must be an integer (i64), got 'seven'."),
        (["fibo"], "Missing argument 'iterations' for fibo.fibo (iterations: i64); got nothing"),
        (["fibo", "1", "2"], "fibo.fibo takes 1 argument(s) (iterations: i64), got 2."),
        (["fib", "7"], "exports no function 'fib'; it exports: _initialize, fibo. Did you mean"),
        (["fibo", "7", "--data", "x"], "--data is the payload of a bytes-ABI function"),
        (["fibo", "7", "--file", "nonsense"], "write it as MOUNT=PATH"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, call: list[str], sentence: str) -> None:
    done = run(wasm("fibo"), *call, cwd=tmp_path)
    assert done.returncode == 2, err(done)
    assert sentence in err(done)


def test_not_a_module_and_a_broken_description(tmp_path: Path) -> None:
    (tmp_path / "x.wasm").write_bytes(b"not wasm")
    done = run(tmp_path / "x.wasm", "f", cwd=tmp_path)
    assert done.returncode == 1
    assert "'x' is not a WebAssembly binary" in err(done)
    (tmp_path / "d.json").write_text("{")
    done = run(wasm("fibo"), "fibo", "1", "--description", "d.json", cwd=tmp_path)
    assert done.returncode == 2
    assert "The description d.json is not valid JSON" in err(done)


def test_description_found_in_the_build_folder(tmp_path: Path) -> None:
    """An undescribed module's arguments are bound by position and named by it; with
    build/description.json (what ``wasmfleet build`` writes) by the described names."""
    build = tmp_path / "build"
    build.mkdir()
    (tmp_path / "fibo.wasm").write_bytes(wasm("fibo").read_bytes())
    done = run(tmp_path / "fibo.wasm", "fibo", "x", cwd=tmp_path)
    assert done.returncode == 2
    assert "Argument '0' must be an integer (i64), got 'x'." in err(done)
    (build / "description.json").write_text((MODULES / "fibo" / "description.json").read_text())
    done = run(tmp_path / "fibo.wasm", "fibo", "x", cwd=tmp_path)
    assert "Argument 'iterations' must be an integer (i64), got 'x'." in err(done)
    done = run(tmp_path / "fibo.wasm", "fibo", "iterations=7", cwd=tmp_path)
    assert (done.returncode, out(done)) == (0, ["13"]), err(done)
