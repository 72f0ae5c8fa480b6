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
    patcher.node_type("oscillator")     # its doc and params
    patch.mappings.append(patcher.ControlMapping("osc.frequency_hz", midi_cc=74))
    notes = patcher.read_midi_file("song.mid", 48000)   # events on their samples
    audio = patcher.render(patch, seconds=10.0, events=notes)

In a notebook a patch shows its graph, a render an audio player, an analysis its verdict and
plots (``patcher.notebook``).
"""

from patcher.compiler import compile_patch
from patcher.engine import Engine
from patcher.midi import read_midi_file
from patcher.model import Comment, ControlMapping, Patch, PatchError, Settings
from patcher.notebook import NodeType, node_type
from patcher.patchfile import dumps, load, loads, save
from patcher.render import Rendering, render, render_to_file

__all__ = [
    "Comment",
    "ControlMapping",
    "Engine",
    "NodeType",
    "Patch",
    "PatchError",
    "Rendering",
    "Settings",
    "compile_patch",
    "dumps",
    "load",
    "loads",
    "node_type",
    "read_midi_file",
    "render",
    "render_to_file",
    "save",
]
