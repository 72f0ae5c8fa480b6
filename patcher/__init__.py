"""patcher: a visual dataflow patching environment for audio.

The Python API, for scripts and notebooks::

    import patcher
    patch = patcher.Patch()
    patch.add_node("oscillator", "osc", frequency_hz=440.0)
    patch.add_node("output", "out")
    patch.connect("osc.out", "out.left")
    audio = patcher.render(patch, seconds=1.0)      # (frames, 2) float64, limited as a play is
    patcher.render_to_file(patch, "tone.wav", seconds=60.0)   # streamed, any length
    patch.save("tone.json")
    same = patcher.load("tone.json")
"""

from patcher.compiler import compile_patch
from patcher.engine import Engine
from patcher.model import Comment, Patch, PatchError, Settings
from patcher.patchfile import dumps, load, loads, save
from patcher.render import Rendering, render, render_to_file

__all__ = [
    "Comment",
    "Engine",
    "Patch",
    "PatchError",
    "Rendering",
    "Settings",
    "compile_patch",
    "dumps",
    "load",
    "loads",
    "render",
    "render_to_file",
    "save",
]
