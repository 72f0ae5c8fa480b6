"""The compiled kernels' cache: said once when it is made, and made where it can be written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_first_run_says_it_is_compiling_and_the_next_does_not(tmp_path: Path) -> None:
    environment = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "patcher", "render", str(ROOT / "patches" / "default.json")]
    command += ["-o", str(tmp_path / "out.wav"), "--seconds", "0.1"]
    first = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    second = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "compiling the DSP kernels" in first.stderr
    assert "compiling" not in second.stderr
    assert list((tmp_path / "cache" / "patcher").glob("kernels-*"))


@pytest.mark.skipif(shutil.which("unshare") is None, reason="util-linux's unshare is part of Debian's base")
def test_a_read_only_install_caches_its_kernels_in_the_user_s_folder(tmp_path: Path) -> None:
    """numba writes its cache beside the sources, or in the user's cache folder when the
    package's folder cannot be written (an installed package's usually cannot)."""
    tree, home = tmp_path / "installed", tmp_path / "home"
    home.mkdir()
    archive = subprocess.run(
        ["git", "archive", "HEAD", "patcher", "nodes", "patches"], cwd=ROOT, capture_output=True, check=True
    )
    tree.mkdir()
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    script = (
        f"mount --bind {tree} {tree} && mount -o remount,ro,bind {tree} && "
        f"HOME={home} XDG_CACHE_HOME={home / '.cache'} PYTHONPATH={tree} {sys.executable} -m patcher "
        f"render {tree / 'patches' / 'default.json'} -o {home / 'out.wav'} --seconds 0.1"
    )
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=600, cwd=home
    )  # not run from the checkout: ``python -m`` puts the working folder first on the path
    if "Operation not permitted" in result.stderr and "mount" in result.stderr:
        pytest.fail(f"a read-only mount needs root here: {result.stderr}")
    assert result.returncode == 0, result.stderr
    assert list((home / ".cache" / "numba").rglob("*.nbi")), "no kernel cached in the user's folder"
    assert not list(tree.rglob("*.nbi"))


def _kernels() -> dict[str, object]:
    """Every compiled kernel of the node library and the engine, by name."""
    import importlib
    import pkgutil

    from numba.core.registry import CPUDispatcher

    import nodes
    import patcher

    found = {}
    for package in (nodes, patcher):
        for module_info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            if ".editor" in module_info.name or module_info.name.endswith("__main__"):
                continue
            module = importlib.import_module(module_info.name)
            for name, value in vars(module).items():
                if isinstance(value, CPUDispatcher) and value.__module__ == module.__name__:
                    found[f"{module.__name__}.{name}"] = value
    return found


#: Kernels Python also calls directly, off the audio thread (``nodes.shapers.shape``, for a
#: waveshaper's ``prepare`` and its picture): their first call there is not the callback's.
CALLED_BY_PREPARE = {"nodes.shapers._shape_block"}


def test_after_the_warm_up_no_patch_loads_or_compiles_a_kernel() -> None:
    """Issue 12 review: a live edit that closed a feedback loop loaded the delay's loop kernels
    in the audio callback (13-18 ms at block 256). After ``warm_up_kernels`` (which the
    editor's engine process runs when it starts) random patches, loops and odd blocks
    included, find every kernel they call ready: no kernel gains a signature."""
    from patcher.engine import Engine
    from patcher.render import warm_up_kernels
    from tests.randomgraphs import random_graph

    warm_up_kernels()
    kernels = _kernels()
    assert len(kernels) > 20
    before = {name: len(kernel.signatures) for name, kernel in kernels.items()}
    for index in range(12):
        graph = random_graph(3, index)
        for block_size in graph.block_sizes:
            Engine(graph.patch, graph.sample_rate, block_size).render(0.02)
    grown = {
        name: kernel.signatures[before[name] :]
        for name, kernel in kernels.items()
        if len(kernel.signatures) != before[name] and name not in CALLED_BY_PREPARE
    }
    assert not grown, f"first called after the warm-up: {sorted(grown)}"


def test_the_compiling_notice_follows_every_module_that_defines_kernels() -> None:
    """An update to any module with kernels compiles them again: the notice must know it."""
    import re

    from patcher import kernels

    package = Path(kernels.__file__).resolve().parent
    defining = {
        path.resolve()
        for path in [*package.glob("*.py"), *(package.parent / "nodes").glob("*.py")]
        if re.search(r"^@(kernel|entry\(|numba\.njit)", path.read_text(), re.MULTILINE)
    }
    assert defining <= {path.resolve() for path in kernels._SOURCES}


def test_a_new_stamp_replaces_this_checkouts_old_ones_and_leaves_others(tmp_path: Path, monkeypatch) -> None:
    from patcher import kernels

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "patcher"
    folder.mkdir()
    checkout = str(kernels._SOURCES[0].resolve())
    (folder / "kernels-0000000000000000").write_text(checkout)  # this checkout, older sources
    (folder / "kernels-1111111111111111").write_text("/elsewhere/patcher/kernels.py")
    assert kernels.compile_notice() is not None
    kernels.kernels_compiled()
    assert kernels.compile_notice() is None
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        ["kernels-1111111111111111", kernels._stamp().name]
    )
