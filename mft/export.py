"""Export the engine's model as a Hugging Face folder (loadable by `from_pretrained`).

Rank 0 writes one `model.safetensors`, streamed a tensor at a time in the training dtype: the
header is computed from the shapes alone (known without gathering under ZeRO-3), then each
parameter is gathered, written and released, so no rank ever holds the whole model. A LoRA
model is written merged (W + B A * alpha / r, no peft needed to load it), its adapters also in
peft's own format under `adapter/`.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import struct
from dataclasses import dataclass
from typing import Callable

import torch

from .distributed import barrier

SAFETENSORS_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.float64: "F64",
                      torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
                      torch.uint8: "U8", torch.bool: "BOOL"}


@dataclass
class ExportEntry:
    """One tensor of the exported folder: its name, full shape and dtype, the parameters to gather
    for it under ZeRO-3, and how to compute it (on rank 0, while they are gathered)."""
    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    params: list[torch.Tensor]
    value: Callable[[], torch.Tensor]


class SafetensorsWriter:
    """Writes a safetensors file tensor by tensor, in the order of the entries given up front."""

    def __init__(self, path: str, entries: list[tuple[str, torch.dtype, tuple[int, ...]]]):
        header: dict = {"__metadata__": {"format": "pt"}}
        offset = 0
        self._expected = []
        for name, dtype, shape in entries:
            size = torch.Size(shape).numel() * torch.empty((), dtype=dtype).element_size()
            header[name] = {"dtype": SAFETENSORS_DTYPES[dtype], "shape": list(shape),
                            "data_offsets": [offset, offset + size]}
            self._expected.append((name, dtype, tuple(shape)))
            offset += size
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        self._file = open(path, "wb")
        self._file.write(struct.pack("<Q", len(raw)) + raw)
        self._next = 0

    def write(self, tensor: torch.Tensor) -> None:
        name, dtype, shape = self._expected[self._next]
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name}: expected shape {shape}, got {tuple(tensor.shape)}")
        data = tensor.detach().to("cpu", dtype).contiguous().reshape(-1)
        self._file.write(memoryview(data.view(torch.uint8).numpy()))
        self._next += 1

    def close(self) -> None:
        self._file.close()
        if self._next != len(self._expected):
            raise RuntimeError(f"safetensors file closed after {self._next} of {len(self._expected)} tensors")


def _full_shape(p: torch.Tensor) -> tuple[int, ...]:
    return tuple(getattr(p, "ds_shape", p.shape))


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model inside a peft wrapper (the model itself otherwise)."""
    return model.get_base_model() if hasattr(model, "peft_config") else model


def _merged_weight(name: str, layer) -> ExportEntry:
    """A LoRA layer's base weight plus its adapters' deltas, computed in fp32."""
    base = layer.base_layer
    adapters = list(layer.active_adapters)
    quantized = not base.weight.dtype.is_floating_point
    dtype = (getattr(base, "compute_dtype", None) or torch.bfloat16) if quantized else base.weight.dtype

    def value() -> torch.Tensor:
        if quantized:
            from peft.utils.integrations import dequantize_module_weight
            weight = dequantize_module_weight(base).float()
        else:
            weight = base.weight.data.float()
        for a in adapters:
            weight = weight + layer.get_delta_weight(a).float()
        return weight

    params = [base.weight] + [layer.lora_A[a].weight for a in adapters] + [layer.lora_B[a].weight for a in adapters]
    return ExportEntry(name, (base.out_features, base.in_features), dtype, params, value)


def export_plan(model: torch.nn.Module) -> list[ExportEntry]:
    """What a plain transformers model of this architecture holds, LoRA merged in; tied weights once."""
    base = base_model(model)
    persistent = set(base.state_dict().keys())
    entries = []
    for name, p in base.named_parameters():
        if ".lora_" in name:
            continue
        if ".base_layer." in name:
            owner, _, leaf = name.partition(".base_layer.")
            if leaf == "weight":
                entries.append(_merged_weight(f"{owner}.weight", base.get_submodule(owner)))
                continue
            name = f"{owner}.{leaf}"
        entries.append(ExportEntry(name, _full_shape(p), p.dtype, [p], lambda p=p: p.data))
    for name, b in base.named_buffers():
        if name in persistent:
            entries.append(ExportEntry(name, tuple(b.shape), b.dtype, [], lambda b=b: b))
    return entries


def _gathered(params: list[torch.Tensor], zero3: bool):
    if not zero3:
        return contextlib.nullcontext()
    import deepspeed
    return deepspeed.zero.GatheredParameters(params, modifier_rank=None)


def _export_config(model: torch.nn.Module, dtype: torch.dtype):
    base = base_model(model)
    config = copy.deepcopy(base.config)
    config.dtype = dtype
    config.architectures = [type(base).__name__]
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the merged export is unquantized
    return config


def export_hf(engine, tokenizer, out_dir: str, *, rank: int) -> None:
    """Write model weights, config and tokenizer to `out_dir` atomically (collective call).

    Every rank takes part in gathering each ZeRO-3 parameter in turn; only rank 0 keeps a copy,
    and only of the tensor being written.
    """
    model = engine.module
    zero3 = engine.zero_optimization_stage() == 3
    if zero3:
        # release what the last forward prefetched: a parameter still in flight cannot be gathered
        # (it happens when stage3_max_live_parameters is below the model's size)
        engine.empty_partition_cache()
    tmp = out_dir.rstrip("/") + ".tmp"
    plan = export_plan(model)
    writer = None
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        writer = SafetensorsWriter(os.path.join(tmp, "model.safetensors"), [(e.name, e.dtype, e.shape) for e in plan])
    with torch.no_grad():
        for entry in plan:
            with _gathered(entry.params, zero3):
                if writer is not None:
                    writer.write(entry.value())
        adapter = _adapter_state(model, zero3, rank)
    if rank == 0:
        writer.close()
        dtype = next((e.dtype for e in plan if e.dtype.is_floating_point), torch.float32)
        _export_config(model, dtype).save_pretrained(tmp)
        generation = getattr(base_model(model), "generation_config", None)
        if generation is not None:
            generation.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if adapter is not None:
            model.save_pretrained(os.path.join(tmp, "adapter"), state_dict=adapter)
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(tmp, out_dir)
    barrier()


def _adapter_state(model: torch.nn.Module, zero3: bool, rank: int) -> dict | None:
    """The LoRA parameters (peft's state-dict names) on rank 0; None without LoRA or on other ranks."""
    if not hasattr(model, "peft_config"):
        return None
    state = {}
    for name, p in model.named_parameters():
        if ".lora_" in name:
            with _gathered([p], zero3):
                if rank == 0:
                    state[name] = p.data.detach().to("cpu", copy=True)
    return state if rank == 0 else None
