"""The OpenAPI description (``description.json``) of a model module (pure).

It follows modules/README.md: one path per exported function, ``predict`` marked
``x-wasmfleet-abi: bytes``; ``info.x-wasmfleet-model`` says what the module computes.
"""

from __future__ import annotations

from typing import Any

from wasmfleet.ml.codegen import ERROR_LENGTH, ERROR_MEMORY, ERROR_NOT_FINITE, ModelCode

PATH = "/{deployment}/modules/{module}/"


def _path_parameters() -> list[dict[str, Any]]:
    return [
        {
            "name": "deployment",
            "in": "path",
            "required": True,
            "description": "Deployment id.",
            "schema": {"type": "string"},
        },
        {
            "name": "module",
            "in": "path",
            "required": True,
            "description": "Module name within the deployment.",
            "schema": {"type": "string"},
        },
    ]


def _int_response(description: str, fmt: str) -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "content": {"application/json": {"schema": {"type": "integer", "format": fmt}}},
        }
    }


def _scalar(function: str, summary: str, response: str) -> dict[str, Any]:
    return {
        "parameters": _path_parameters(),
        "get": {
            "operationId": function,
            "summary": summary,
            "parameters": [],
            "responses": _int_response(response, "int32"),
            "x-mounts": [],
            "x-example": {},
        },
    }


def model_description(name: str, model: ModelCode, version: str = "1.0.0") -> dict[str, Any]:
    """The description.json document of module ``name``."""
    single = (
        '{"class": C, "probabilities": [P1, ...]} (probabilities in class order)'
        if model.probabilities
        else '{"class": C}'
    )
    classes = list(model.labels) if model.labels is not None else list(range(model.n_classes))
    predict = {
        "operationId": "predict",
        "summary": f"Bytes ABI: classify float32 feature vectors with the {model.estimator}.",
        "description": (
            f"The input is little-endian float32 features, {model.n_features} per sample "
            f"({4 * model.n_features} bytes). One sample answers {single}; k > 1 samples "
            '(k * n_features floats) answer {"classes": [C1, ..., Ck]}. Returns the packed '
            f"output buffer (ptr << 32 | len), {ERROR_LENGTH} when the input is not a whole "
            f"number of samples, {ERROR_NOT_FINITE} when a feature is NaN or infinite, "
            f"{ERROR_MEMORY} when the module is out of memory."
        ),
        "parameters": [
            {
                "name": "ptr",
                "in": "query",
                "required": True,
                "description": "Address of the input bytes (bytes ABI: the supervisor "
                "fills it in for triggered calls).",
                "schema": {"type": "integer", "format": "int32"},
            },
            {
                "name": "len",
                "in": "query",
                "required": True,
                "description": "Length of the input in bytes (a multiple of "
                f"{4 * model.n_features}).",
                "schema": {"type": "integer", "format": "int32"},
            },
        ],
        "responses": _int_response(
            "The packed output buffer (JSON), or a negative error code.", "int64"
        ),
        "x-mounts": [],
        "x-wasmfleet-abi": "bytes",
        "x-example": {"ptr": 0, "len": 0},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": name,
            "version": version,
            "description": (
                f"A scikit-learn {model.estimator} compiled into WebAssembly by "
                f"`wasmfleet ml build` ({model.generator}): {model.n_features} float32 "
                f"features in, one of {model.n_classes} classes out (docs/ml.md)."
            ),
            "x-wasmfleet-model": {
                "estimator": model.estimator,
                "generator": model.generator,
                "n_features": model.n_features,
                "input": "float32 little-endian",
                "classes": classes,
                "class_is_index": model.labels is None,
                "probabilities": model.probabilities,
            },
        },
        "paths": {
            PATH + "predict": {"parameters": _path_parameters(), "get": predict},
            PATH + "n_features": _scalar(
                "n_features",
                "How many float32 features one sample has.",
                "The number of features.",
            ),
            PATH + "n_classes": _scalar(
                "n_classes", "How many classes the model tells apart.", "The number of classes."
            ),
        },
    }
