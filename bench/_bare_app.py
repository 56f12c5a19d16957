"""The HTTP baseline for bench/supervisor.py: fibo behind one bare Starlette route.

Run as ``python bench/_bare_app.py --port N``. It serves
``GET /{deployment}/modules/{module}/{function}?iterations=N`` and answers
``{"result": "<value>"}`` from the same fibo.wasm, called through wasmfleet's fast path
under a ``threading.Lock`` on the event loop: no deployments, history, executor or
epoch deadline. uvicorn runs it with uvloop + httptools and no access log, as the
supervisor does, so the ratio to the supervisor isolates the supervisor's own work.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

import uvicorn
import wasmtime
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from wasmfleet.runtime.engine import FuncSignature
from wasmfleet.runtime.fastcall import make_fast_call

FIBO_WASM = Path(__file__).resolve().parents[1] / "modules" / "fibo" / "fibo.wasm"


def create_app(wasm: Path = FIBO_WASM) -> Starlette:
    """A Starlette app with one call route backed by one fibo instance."""
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, wasmtime.Module.from_file(engine, str(wasm)))
    exports = instance.exports(store)
    init = exports.get("_initialize")
    if isinstance(init, wasmtime.Func):
        init(store)
    fibo = exports["fibo"]
    assert isinstance(fibo, wasmtime.Func)
    call = make_fast_call(store, fibo, FuncSignature(("i64",), ("i64",)))
    lock = threading.Lock()

    async def endpoint(request: Request) -> JSONResponse:
        n = int(request.query_params.get("iterations", "0"))
        with lock:
            value = call(n)
        return JSONResponse({"result": str(value)})

    app = Starlette(routes=[Route("/{deployment}/modules/{module}/{function}", endpoint)])
    app.state.wasm = (store, instance)  # the fast call holds only raw pointers into the store
    return app


def main() -> None:
    """Serve the baseline app on 127.0.0.1."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="off",
    )


if __name__ == "__main__":
    main()
