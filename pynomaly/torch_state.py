"""Torch models saved without pickle: a network's ``state_dict`` plus plain fitted attributes.

skops cannot hold torch models, and ``torch.save`` of a whole module pickles code. Here only
tensors and plain values are written (``torch.save`` of a dict), and they are read back with
``torch.load(weights_only=True)``, which refuses anything but tensors, primitives and
containers of them — never unpickling code. numpy arrays travel as tensors with a marker so
they come back as numpy arrays of the same dtype.

Deep (``pynomaly.deep``) and graph (``pynomaly.graph``) detectors rebuild their network from
their constructor parameters and the recorded shapes, then load the state into it.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

FORMAT = "pynomaly-torch/1"
_NUMPY = "__numpy__"


def _encode(value: Any) -> Any:
    import torch

    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("object arrays cannot be saved safely")
        return {_NUMPY: torch.from_numpy(np.ascontiguousarray(value)), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        encoded = [_encode(v) for v in value]
        return encoded if isinstance(value, list) else tuple(encoded)
    if (
        value is None
        or isinstance(value, bool | int | float | str)
        or isinstance(value, torch.Tensor)
    ):
        return value
    raise TypeError(f"cannot save a {type(value).__name__} safely")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if _NUMPY in value:
            return value[_NUMPY].numpy().astype(value["dtype"], copy=True)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_decode(v) for v in value)
    return value


def dumps(state_dict: dict[str, Any], attributes: dict[str, Any]) -> bytes:
    """Bytes holding ``state_dict`` (tensors) and ``attributes`` (plain values, numpy arrays).

    Raises
    ------
    TypeError
        An attribute is not a tensor, numpy array, primitive or container of those.
    """
    import torch

    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in state_dict.items()}
    torch.save({"format": FORMAT, "state_dict": state, "attributes": _encode(attributes)}, buffer)
    return buffer.getvalue()


def loads(data: bytes, *, map_location: str = "cpu") -> tuple[dict[str, Any], dict[str, Any]]:
    """``(state_dict, attributes)`` from :func:`dumps` bytes, read with ``weights_only=True``.

    Raises
    ------
    ValueError
        Not this format (or a newer version of it).
    """
    import torch

    payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError("not a Pynomaly torch model (or a newer format than this release reads)")
    return payload["state_dict"], _decode(payload["attributes"])
