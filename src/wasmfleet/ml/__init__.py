"""Models compiled into WebAssembly: ``wasmfleet ml build`` (docs/ml.md).

routing    which code generator handles which scikit-learn estimator (pure)
codegen    the C text of a module: model code wrapped in the bytes ABI (pure)
describe   the module's description.json (pure)
generators emlearn and m2cgen turned into ``ModelCode``
model      loading a pickle or joblib file and what the model looks like
compile    clang for wasm32-wasi, with the flags of modules/build.sh
check      held-out data in, the module run with wasmtime, agreement out
build      the pipeline: model file -> N.c, N.wasm, description.json, check
"""
