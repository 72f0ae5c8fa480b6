"""Run one node outside a patch, block by block, the way the engine's steps call it."""

from __future__ import annotations

from typing import Any

import numpy as np

from patcher.spec import node_class


def run_node(
    type_name: str,
    params: dict[str, Any] | None = None,
    inputs: dict[str, np.ndarray] | None = None,
    frames: int | None = None,
    block: int = 256,
    sample_rate: int = 48000,
    patch_dir: str = ".",
) -> dict[str, np.ndarray]:
    """Outputs of ``type_name`` over ``frames`` samples, processed in blocks of ``block``.

    ``inputs`` may hold signal inputs and modulatable params' signals (added to set values).
    """
    cls = node_class(type_name)
    assert cls is not None, type_name
    inputs = inputs or {}
    if frames is None:
        frames = len(next(iter(inputs.values()))) if inputs else sample_rate // 10
    node = cls(params or {}, patch_dir)
    node.linked = frozenset(inputs)
    node.prepare(sample_rate, block)
    results = {port: np.zeros(frames) for port in cls.OUTPUTS}
    if cls.TYPE == "output":
        results = {"left": np.zeros(frames), "right": np.zeros(frames)}
    silence = np.zeros(block)
    for start in range(0, frames, block):
        stop = min(start + block, frames)
        block_inputs = {
            port: np.array(inputs[port][start:stop]) if port in inputs else silence[: stop - start]
            for port in cls.INPUTS
        }
        block_params = dict(node.params)
        for name, param in cls.PARAMS.items():  # a modulatable param is always an array
            if param.modulatable:
                block_params[name] = np.full(stop - start, float(node.params[name]))
            if name in inputs:
                block_params[name] += np.asarray(inputs[name][start:stop], dtype=float)
        outputs = {port: np.zeros(stop - start) for port in cls.OUTPUTS}
        node.process(block_inputs, block_params, outputs)
        for port, values in outputs.items():
            results[port][start:stop] = values
        if cls.TYPE == "output":
            results["left"][start:stop] = node.stereo[0, : stop - start]
            results["right"][start:stop] = node.stereo[1, : stop - start]
    return results


def probe_signal(frames: int, seed: int = 1) -> np.ndarray:
    """Band-rich test input: a quiet noise plus a 220 Hz sine and a click every 1000 samples."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 48000
    signal = 0.3 * rng.standard_normal(frames) + 0.5 * np.sin(2 * np.pi * 220 * t)
    signal[::1000] += 0.9
    return signal


def run_node_class(
    cls: type,
    params: dict[str, Any],
    inputs: dict[str, np.ndarray],
    block: int,
    sample_rate: int = 48000,
    patch_dir: str = ".",
    frames: int | None = None,
) -> dict[str, np.ndarray]:
    """``run_node`` for a class (a reference in tests/reference_nodes is not registered), with
    the engine's call sizes: blocks of at most ``block``, cut at random into shorter calls as a
    loop's chunks are. A sink's ``stereo`` comes back as "left" and "right"."""
    frames = len(next(iter(inputs.values()))) if frames is None else frames
    node = cls(params, patch_dir)
    node.linked = frozenset(inputs)
    node.prepare(sample_rate, block)
    ports = ("left", "right") if cls.IS_SINK else cls.OUTPUTS
    results = {port: np.zeros(frames) for port in ports}
    cuts = np.random.default_rng(block).integers(1, block + 1, size=frames)
    start = 0
    for length in cuts:
        stop = min(start + int(length), frames)
        block_inputs = {
            port: inputs[port][start:stop].copy() if port in inputs else np.zeros(stop - start)
            for port in cls.INPUTS
        }
        block_params = dict(node.block_params)
        for name, param in cls.PARAMS.items():
            if param.modulatable:
                block_params[name] = np.full(stop - start, float(node.params[name]))
                if name in inputs:
                    block_params[name] += inputs[name][start:stop]
        outputs = {port: np.zeros(stop - start) for port in cls.OUTPUTS}
        node.process(block_inputs, block_params, outputs)
        for port, values in outputs.items():
            results[port][start:stop] = values
        if cls.IS_SINK:
            results["left"][start:stop] = node.stereo[0, : stop - start]
            results["right"][start:stop] = node.stereo[1, : stop - start]
        start = stop
        if start >= frames:
            break
    return results


def swap_process(plan: Any, node: Any, process: Any = None) -> None:
    """Give ``node`` another ``process`` from the next block (None: its own again), as a test's
    failing node. ``plan`` is the block plan running it (``engine.schedule.fast``): the plan
    runs a node's compiled entry rather than its ``process`` where it can, so it is made
    afresh (a flag the audio thread reads: safe from another thread while a stream plays)."""
    if process is None:
        node.__dict__.pop("process", None)
    else:
        node.process = process
    plan.dirty = True


def raises(inputs: Any, params: Any, outputs: Any) -> None:
    """A node's ``process`` that fails (for :func:`swap_process`)."""
    raise TypeError("a node's process that raises")
