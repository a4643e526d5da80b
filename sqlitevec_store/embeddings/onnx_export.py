"""The ONNX export: a sentence-transformers model turned, once, into the files the ONNX backends run.

:func:`open_onnx_encoder` is the way in: it exports the model when the cache
lacks it (PyTorch traces the transformer, the export is checked against
PyTorch's own vectors, then fused by ONNX Runtime's transformer optimizer),
quantizes it to int8 for ``"onnx-int8"`` when that file is missing, and opens
the result. Each step writes beside the cache entry and renames into place, so
a crash leaves nothing half-written. These slow one-time steps are logged at
INFO on :data:`export_logger`, so a command line can show them.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import SqliteVecStoreError
from .hub import _quiet_loading
from .model_ids import Backend, canonical_model_id
from .onnx_runtime import (
    _MANIFEST,
    _ONNX_FORMAT,
    _ONNX_FP32,
    _ONNX_INT8,
    _import_optional,
    _onnx_model_dir,
    _OnnxEncoder,
)

logger = logging.getLogger("sqlitevec_store")
#: One-time slow steps (ONNX export, int8 quantization), logged at INFO so a command line can show them.
export_logger = logging.getLogger("sqlitevec_store.export")

# Texts used to check an export against the PyTorch model: mixed lengths (so
# batches are padded), casing, punctuation, non-ASCII, and one past the
# 256-token window (so truncation is exercised).
_CHECK_TEXTS = [
    "How do I restore a backup?",
    "",
    "The server listens on TCP port 8420; TLS needs a certificate and a key.",
    "Écrire des données en UTF-8 : «ça marche» — 東京, Zürich, naïve café.",
    "A" * 5,
    "WAL archiving copies every completed write-ahead log segment to the archive directory. " * 30,
    "ok",
    "Vacuum reclaims storage occupied by dead tuples.",
]


def open_onnx_encoder(
    model_name: str, source: str, kwargs: dict[str, Any], *, backend: Backend, quiet: bool
) -> _OnnxEncoder:
    """The ONNX encoder for a model, exported (and quantized) first when the cache does not hold it yet.

    Args:
        model_name: The model as the embedder was given it (its id names the cache entry).
        source: Where the model loads from: a directory or a hub id.
        kwargs: The loading options; part of the cache entry's fingerprint.
        backend: ``"onnx"`` (the fp32 graph) or ``"onnx-int8"`` (the int8 graph, one text per run).
        quiet: Hide transformers' weight-loading progress bar while exporting.

    Returns:
        The encoder, shaped like the part of ``SentenceTransformer`` the embedder uses.

    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    model_id = canonical_model_id(model_name, backend=backend)
    ort = _import_optional("onnxruntime", "backend='onnx'")
    directory = _onnx_model_dir(canonical_model_id(model_name), source, kwargs, ort.__version__)
    if not (directory / _MANIFEST).is_file():
        export_logger.info("Exporting %s to ONNX, once (it takes a while; later runs reuse %s)", model_id, directory)
        _export_onnx(directory, source, kwargs, model_id=canonical_model_id(model_name), quiet=quiet)
    file_name = _ONNX_FP32
    if backend == "onnx-int8":
        file_name = _ONNX_INT8
        if not (directory / file_name).is_file():
            export_logger.info("Quantizing %s to int8, once (later runs reuse %s)", model_id, directory)
            _quantize_onnx(directory)
    logger.info("loading embedding model %s from %s", model_id, directory / file_name)
    # int8: one text per run. Dynamic quantization scales activations per run, so texts run
    # together would change each other's vectors (measured: cosine down to 0.973 between a
    # text embedded alone and in a batch); alone, a text always gets the same vector.
    return _OnnxEncoder(directory, file_name, one_text_per_run=backend == "onnx-int8")


def _module_layout(model: Any) -> tuple[str, bool]:
    """The pooling mode and whether the pipeline normalizes; raises for pipelines we cannot re-do."""
    modules = list(model)
    names = [type(m).__name__ for m in modules]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise SqliteVecStoreError(
            f"The ONNX backends support models made of Transformer, Pooling and (optionally) Normalize; "
            f"this one has {names}. Use backend='torch'."
        )
    pooling = modules[1]
    config = pooling.get_config_dict()
    mode = config.get("pooling_mode")
    if mode is None and hasattr(pooling, "get_pooling_mode_str"):  # older sentence-transformers
        mode = pooling.get_pooling_mode_str()
    if mode not in ("mean", "cls", "max") or config.get("include_prompt", True) is False:
        raise SqliteVecStoreError(
            f"The ONNX backends support mean, cls and max pooling (prompt included); this model has {config}. "
            "Use backend='torch'."
        )
    return str(mode), len(modules) == 3


def _export_onnx(directory: Path, source: str, kwargs: dict[str, Any], *, model_id: str, quiet: bool) -> None:
    """Export ``source``'s transformer to ONNX in ``directory``, check it against PyTorch, then fuse it.

    Everything is written to a temporary directory beside ``directory`` and
    renamed into place at the end, so a crash leaves nothing half-written and
    two processes exporting at once both end up with one complete copy.
    """
    _import_optional("onnx", "Exporting a model to ONNX")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise SqliteVecStoreError(
            'Exporting a model to ONNX needs sentence-transformers: pip install "sqlitevec-store[onnx]"'
        ) from exc
    directory.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=directory.parent))
    work.chmod(0o755)  # mkdtemp makes it private; the cache is as readable as the user's other caches
    try:
        load_kwargs = dict(kwargs)
        inner = dict(load_kwargs.pop("model_kwargs", None) or {})
        # Eager attention traces to the plain MatMul/Softmax pattern ONNX Runtime's optimizer fuses;
        # SDPA traces to a graph it does not recognise (measured: 1.28x vs 1.12x over PyTorch).
        inner["attn_implementation"] = "eager"
        model: Any
        with _quiet_loading(enabled=quiet):
            model = SentenceTransformer(source, device="cpu", model_kwargs=inner, **load_kwargs)
        model.eval()
        pooling, normalize = _module_layout(model)
        tokenizer = model.tokenizer
        backend_tokenizer = getattr(tokenizer, "backend_tokenizer", None)
        if backend_tokenizer is None:
            raise SqliteVecStoreError(
                "The ONNX backends need a model with a fast (Rust) tokenizer. Use backend='torch'."
            )
        transformer = model[0]
        hf_model: Any = transformer.auto_model
        max_seq_length = int(model.max_seq_length or tokenizer.model_max_length)
        input_names = ["input_ids", "attention_mask"]
        if "token_type_ids" in tokenizer.model_input_names:
            input_names.append("token_type_ids")

        class _Wrapper(torch.nn.Module):
            def __init__(self, inner_model: Any) -> None:
                super().__init__()
                self.inner = inner_model

            def forward(self, *tensors: Any) -> Any:
                return self.inner(**dict(zip(input_names, tensors, strict=True))).last_hidden_state

        sample = tokenizer(
            _CHECK_TEXTS[:3], padding=True, truncation=True, max_length=max_seq_length, return_tensors="pt"
        )
        raw = work / "raw.onnx"
        axes = {name: {0: "batch", 1: "sequence"} for name in [*input_names, "last_hidden_state"]}
        # torch >= 2.9 defaults to the torch.export-based exporter, which needs onnxscript;
        # the TorchScript exporter needs only onnx and handles these models.
        legacy: dict[str, Any] = (
            {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
        )
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # the tracer's notes on data-dependent branches; checked below
            torch.onnx.export(
                _Wrapper(hf_model).eval(),
                tuple(sample[name] for name in input_names),
                str(raw),
                input_names=input_names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                do_constant_folding=True,
                **legacy,
            )
        (work / "tokenizer.json").write_text(backend_tokenizer.to_str(), encoding="utf-8")
        manifest = {
            "format": _ONNX_FORMAT,
            "model_id": model_id,
            "source": source,
            "dimension": int(
                model.get_embedding_dimension()
                if hasattr(model, "get_embedding_dimension")
                else model.get_sentence_embedding_dimension()
            ),
            "pooling": pooling,
            "normalize": normalize,
            "lowercase": bool(getattr(transformer, "do_lower_case", False)),
            "max_seq_length": max_seq_length,
            "pad_id": int(tokenizer.pad_token_id or 0),
            "pad_token": str(tokenizer.pad_token),
            "pad_type_id": int(getattr(tokenizer, "pad_token_type_id", 0) or 0),
            "input_names": input_names,
            "versions": _versions(),
        }
        (work / _MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        # Reference vectors from the PyTorch model, in batches of 3 so that some are padded.
        reference = np.asarray(model.encode(_CHECK_TEXTS, batch_size=3, convert_to_numpy=True), dtype=np.float32)
        raw.rename(work / _ONNX_FP32)
        exported = _OnnxEncoder(work, _ONNX_FP32).encode(_CHECK_TEXTS, batch_size=3)
        raw_diff = float(np.abs(exported - reference).max())
        if raw_diff > 1e-4:
            raise SqliteVecStoreError(f"The ONNX export of {source} differs from PyTorch by {raw_diff:.2g}")
        fused_diff = _fuse(work, hf_model.config, reference)
        manifest["check"] = {"texts": len(_CHECK_TEXTS), "max_abs_diff": raw_diff, "fused_max_abs_diff": fused_diff}
        (work / _MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        try:
            work.rename(directory)
        except OSError:
            if not (directory / _MANIFEST).is_file():
                raise
            # another process finished the same export first: keep theirs
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fuse(work: Path, config: Any, reference: npt.NDArray[np.float32]) -> float | None:
    """Fuse attention, GELU and layer norms with ONNX Runtime's transformer optimizer, if it checks out.

    Keeps the unfused graph when the optimizer fails or its output drifts from
    PyTorch's by more than 1e-4. Returns the fused graph's max abs difference,
    or ``None`` when it was not kept.
    """
    try:
        optimize_model = importlib.import_module("onnxruntime.transformers.optimizer").optimize_model
        optimized = optimize_model(
            str(work / _ONNX_FP32),
            model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(config, "hidden_size", 0) or 0),
            opt_level=0,
        )
        optimized.save_model_to_file(str(work / "fused.onnx"))
        fused = _OnnxEncoder(work, "fused.onnx").encode(_CHECK_TEXTS, batch_size=3)
        diff = float(np.abs(fused - reference).max())
    except Exception as exc:  # the optimizer is best-effort: any failure keeps the plain graph
        logger.warning("ONNX Runtime's optimizer failed (%s); using the unfused graph", exc)
        return None
    if diff > 1e-4:
        logger.warning("the fused ONNX graph differs from PyTorch by %.2g; using the unfused graph", diff)
        (work / "fused.onnx").unlink()
        return None
    (work / "fused.onnx").replace(work / _ONNX_FP32)
    return diff


def _quantize_onnx(directory: Path) -> None:
    """Write ``model_int8.onnx`` beside the fp32 graph: dynamic int8, weights quantized per channel.

    Per channel because per-tensor scales move MiniLM's vectors far more
    (mean cosine to fp32 0.959 instead of 0.994, measured on 300 texts).
    """
    _import_optional("onnx", "backend='onnx-int8'")
    onnx = importlib.import_module("onnx")
    quantization = importlib.import_module("onnxruntime.quantization")

    fd, name = tempfile.mkstemp(prefix=".int8-", suffix=".onnx", dir=directory)
    os.close(fd)
    tmp = Path(name)
    quiet = _DropRecords("onnxruntime")
    root = logging.getLogger()
    root.addFilter(quiet)  # quantize_dynamic logs advice on the root logger
    try:
        quantization.quantize_dynamic(
            str(directory / _ONNX_FP32),
            str(tmp),
            weight_type=quantization.QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        fp32 = _OnnxEncoder(directory, _ONNX_FP32).encode(_CHECK_TEXTS, normalize_embeddings=True)
        int8 = _OnnxEncoder(directory, tmp.name, one_text_per_run=True).encode(_CHECK_TEXTS, normalize_embeddings=True)
        agreement = float((fp32 * int8).sum(axis=1).min())
        if agreement < 0.95:
            raise SqliteVecStoreError(f"int8 quantization moved the vectors too far (min cosine {agreement:.3f})")
        tmp.chmod(0o644)
        tmp.replace(directory / _ONNX_INT8)
    finally:
        root.removeFilter(quiet)
        tmp.unlink(missing_ok=True)


class _DropRecords(logging.Filter):
    def __init__(self, path_part: str) -> None:
        super().__init__()
        self.path_part = path_part

    def filter(self, record: logging.LogRecord) -> bool:
        return self.path_part not in record.pathname


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = ""
    return found
