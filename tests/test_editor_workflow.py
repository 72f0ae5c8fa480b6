"""The first session a new user has, through the editor model and the real player's callback.

Open the chorus, hear it, turn the LFO rate, see the delay's modulation in a scope, patch a
waveshaper in, save under a new name, reopen. Each step goes through the same commands the
window's widgets call; the player is the real one, its callback driven block by block.
"""

from __future__ import annotations

import copy
import types
from pathlib import Path

import numpy as np

from patcher.editor.model import EditorModel
from patcher.patchfile import dumps, load
from patcher.player import Player

ROOT = Path(__file__).resolve().parent.parent
CLEAN = types.SimpleNamespace(output_underflow=False, input_overflow=False)


class CallbackDrivenPlayer(Player):
    """The real Player; ``meters`` runs the callback as a sound card would, 20 blocks a poll."""

    def start(self) -> None:
        self.device_name = "the callback, driven by the test"
        self.block = np.zeros((self.engine.block_size, 2), dtype=np.float32)
        self.heard = []

    def stop(self) -> None:
        pass

    def meters(self):
        for _ in range(20):
            self._output_callback(self.block, len(self.block), None, CLEAN)
            self.heard.append(self.block.copy())
        return super().meters()


def loudness(player: CallbackDrivenPlayer, last_blocks: int = 10) -> float:
    return float(np.sqrt(np.mean(np.concatenate(player.heard[-last_blocks:]) ** 2)))


def test_chorus_first_session(tmp_path: Path) -> None:
    editor = EditorModel(state_dir=tmp_path / "state", player_factory=CallbackDrivenPlayer)
    assert editor.open(ROOT / "patches" / "chorus.json")
    assert editor.play() and editor.poll()["level"].max() > 0.01  # hear it
    player = editor.player
    assert loudness(player) > 0.01

    assert editor.set_param("lfo_left", "rate_hz", 3.0)  # turn the LFO rate
    editor.poll()
    assert player.engine.patch.nodes["lfo_left"].params["rate_hz"] == 3.0
    assert player.engine.schedule.nodes["lfo_left"].params["rate_hz"] == 3.0

    scope = editor.add_node("scope", (560.0, 200.0), time_ms=1000.0, trigger="free")  # see it move
    assert scope and editor.connect("lfo_left.out", f"{scope}.in")
    for _ in range(10):  # a second of sound: three LFO cycles
        editor.poll()
    wave = editor.node_view(scope)
    assert wave is not None and len(wave) > 100
    swing = float(np.max(wave) - np.min(wave))
    depth = editor.patch.nodes["lfo_left"].params["depth"]
    assert swing > 1.9 * depth, "the scope shows the LFO sweeping the delay time up and down"

    shaper = editor.add_node("waveshaper", (150.0, 20.0), drive_db=18.0)  # patch a waveshaper in
    assert shaper
    assert editor.disconnect("guitar.out", "voice_left.in")
    assert editor.connect("guitar.out", f"{shaper}.in") and editor.connect(f"{shaper}.out", "voice_left.in")
    editor.poll()
    assert shaper in player.engine.schedule.nodes and loudness(player) > 0.01

    saved = tmp_path / "my_chorus.json"  # save under a new name, reopen
    assert editor.save_as(saved) and not editor.dirty
    editor.stop()
    reopened = EditorModel(state_dir=tmp_path / "state2", player_factory=CallbackDrivenPlayer)
    # Its media stayed in patches/media, outside its new folder: opening it asks first.
    assert not reopened.open(saved) and reopened.outside_question is not None
    assert reopened.answer_outside_files(allow=True)
    in_memory = copy.deepcopy(editor.patch)  # its files named from its own folder, still
    in_memory.rebase(saved.parent)
    assert dumps(reopened.patch) == dumps(load(saved, allow_outside_files=True)) == dumps(in_memory)
    assert reopened.patch.nodes[shaper].params["drive_db"] == 18.0
