"""Did a function change a tensor it was given? In-place detection for the checks and the grader.

A function must not change the tensors its caller passed in (STYLE.md, "no hidden state"), also
those inside an argument: a schedule's ``alphas_cumprod``, a model's weights, a list of tensors.
Both the notebook checks and the grader (``course_tools.grading``) detect it with these functions,
so the two always agree:

    input_tensors(args, kwargs) -> dict[str, torch.Tensor]
        Every tensor reachable from the arguments, keyed by a path that names where it sits:
        ``"0"`` (the first positional argument), ``"1.alphas_cumprod"`` (a dataclass field),
        ``"0.weight"`` (an ``nn.Module``'s parameter or buffer), ``"2[1]"`` (a list or tuple item),
        ``"3['key']"`` (a dict value), ``"x"`` (a keyword argument). The walk goes through tensors,
        dataclasses, ``nn.Module`` s, lists, tuples and dicts (nested, 8 levels deep at most, each
        object once); other objects are opaque. Same arguments, same paths, in the same order.

    snapshot_inputs(args, kwargs) -> dict[str, torch.Tensor]
        Detached copies of :func:`input_tensors`, taken before the call.

    changed_inputs(before, args, kwargs) -> dict[str, torch.Tensor | None]
        After the call: path -> the tensor as it is now, for every input whose shape, dtype or values
        differ from the snapshot ``before`` (NaN equal to NaN); ``None`` where a tensor is gone
        (e.g. popped from a list), and new paths for tensors the call put in. Empty if nothing changed.

Typical use::

    before = snapshot_inputs(args, kwargs)
    result = fn(*args, **kwargs)
    changed = changed_inputs(before, args, kwargs)   # {} when fn left its inputs alone
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

_MAX_DEPTH = 8


def input_tensors(args: tuple, kwargs: dict) -> dict[str, torch.Tensor]:
    """Every tensor reachable from ``args`` and ``kwargs``, keyed by its path (see the module docstring)."""
    found: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for i, value in enumerate(args):
        _walk(value, str(i), found, seen, 0)
    for name, value in kwargs.items():
        _walk(value, str(name), found, seen, 0)
    return found


def _walk(value: Any, path: str, found: dict, seen: set, depth: int) -> None:
    if isinstance(value, torch.Tensor):
        found[path] = value
        return
    if depth >= _MAX_DEPTH or id(value) in seen or isinstance(value, (str, bytes, int, float, complex, bool, type(None))):
        return
    seen.add(id(value))
    if isinstance(value, nn.Module):
        for name, tensor in list(value.named_parameters()) + list(value.named_buffers()):
            found[f"{path}.{name}"] = tensor
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _walk(getattr(value, f.name, None), f"{path}.{f.name}", found, seen, depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]", found, seen, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{path}[{key!r}]", found, seen, depth + 1)


def snapshot_inputs(args: tuple, kwargs: dict) -> dict[str, torch.Tensor]:
    """Detached copies of every input tensor, to compare with after the call."""
    return {path: t.detach().clone() for path, t in input_tensors(args, kwargs).items()}


def changed_inputs(before: dict[str, torch.Tensor], args: tuple, kwargs: dict) -> dict[str, torch.Tensor | None]:
    """path -> the tensor now, for every input tensor that differs from ``before``; None where one is gone."""
    now = input_tensors(args, kwargs)
    changed: dict[str, torch.Tensor | None] = {path: None for path in before if path not in now}
    for path, tensor in now.items():
        old = before.get(path)
        if old is None or not _same_tensor(old, tensor.detach()):
            changed[path] = tensor
    return changed


def _same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
        return False
    if a.is_floating_point() or a.is_complex():
        same_nans = torch.equal(torch.isnan(a), torch.isnan(b))
        return bool(torch.equal(a, b) or (same_nans and torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))))
    return bool(torch.equal(a, b))


def argument_name(path: str, names: list[str]) -> str:
    """A path with its leading position replaced by the parameter's name: ``"1.alphas_cumprod"`` ->
    ``"schedule.alphas_cumprod"`` for ``names = ["x0", "schedule"]``."""
    head, sep, rest = path.partition(".")
    bracket = head.find("[")
    if bracket > 0:
        head, rest, sep = head[:bracket], head[bracket:] + (sep + rest if sep else ""), ""
    if head.isdigit() and int(head) < len(names):
        head = names[int(head)]
    return f"{head}{sep}{rest}"
