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
