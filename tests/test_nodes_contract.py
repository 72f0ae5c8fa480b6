"""What every node type promises, checked for all of them from their specs alone."""

from __future__ import annotations

import numpy as np
import pytest

from patcher.spec import registry
from tests.nodetools import probe_signal, run_node

ALL_TYPES = sorted(registry())
BLOCK_SIZES = (1, 64, 65, 1024)


def _drive(type_name: str, frames: int) -> dict[str, np.ndarray]:
    """A test signal into every signal input (modulation inputs stay unlinked)."""
    cls = registry()[type_name]
    return {port: probe_signal(frames, seed=index) for index, port in enumerate(cls.INPUTS)}


@pytest.mark.parametrize("type_name", ALL_TYPES)
def test_output_does_not_depend_on_block_size(type_name: str) -> None:
    frames = 3000
    inputs = _drive(type_name, frames)
    reference = run_node(type_name, inputs=inputs, frames=frames, block=256)
    for block in BLOCK_SIZES:
        result = run_node(type_name, inputs=inputs, frames=frames, block=block)
        for port, values in reference.items():
            np.testing.assert_allclose(
                result[port], values, rtol=0, atol=1e-9, err_msg=f"{port} at block {block}"
            )


def _extreme_params(type_name: str, end: str) -> dict[str, object]:
    params: dict[str, object] = {}
    for name, param in registry()[type_name].PARAMS.items():
        if param.kind in ("float", "int"):
            params[name] = param.min if end == "min" else param.max
        elif param.kind == "choice":
            params[name] = param.choices[0 if end == "min" else -1]
        elif param.kind == "bool":
            params[name] = end == "max"
    return params


@pytest.mark.parametrize("end", ["min", "max"])
@pytest.mark.parametrize("type_name", ALL_TYPES)
def test_every_param_at_its_limits_gives_finite_output(type_name: str, end: str) -> None:
    frames = 4800
    outputs = run_node(type_name, _extreme_params(type_name, end), _drive(type_name, frames), frames=frames)
    for port, values in outputs.items():
        assert np.all(np.isfinite(values)), f"{type_name}.{port} is not finite with params at {end}"


@pytest.mark.parametrize("type_name", ALL_TYPES)
def test_spec_is_complete(type_name: str) -> None:
    cls = registry()[type_name]
    assert cls.DOC and cls.FAMILY, f"{type_name} needs a DOC and a FAMILY"
    for name, param in cls.PARAMS.items():
        assert param.doc, f"{type_name}.{name} has no doc"
        assert param.check(param.default) is None, f"{type_name}.{name}: default is not legal"
        if param.kind in ("float", "int"):
            assert param.min is not None and param.max is not None and param.min < param.max
