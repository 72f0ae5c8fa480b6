"""The ``patcher`` command: render, check, nodes (and the front ends' entry points).

Every user mistake ends with one line per problem on stderr and a non-zero exit, never a
traceback: 1 for a bad patch or file, 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from patcher.atomic import special_kind
from patcher.files import ALLOW_FLAG, ALLOW_HELP
from patcher.interrupts import request_stop
from patcher.model import Patch, PatchError
from patcher.text import PATH_LIMIT, excerpt, first_few, paragraph, quote, safe_lines

EXIT_USER_ERROR = 1
PRESET_HELP = "start from the patch's preset NAME (its values set from the first sample)"
MAX_SECONDS = 3600.0  # as a patch's duration_s
#: A MIDI file's render goes on this long after its last event (the last note's release).
MIDI_TAIL_S = 2.0
EXIT_USAGE = 2
DEFAULT_PATCH = Path(__file__).resolve().parent.parent / "patches" / "default.json"
#: What to do when PortAudio finds no device: the README's section says it at length.
NO_DEVICE_HINT = (
    "start a JACK server, or check that `aplay -l` lists a sound card; "
    'README.md, "Playing on a real machine", says how (`patcher render` needs no device)'
)


class UserError(Exception):
    """A mistake the user can fix; its message is printed line by line, each made visible and short."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said with the command's usage, not the top level's
        command = parser.commands.choices.get(args.command, parser) if args.command else parser
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    run = getattr(args, "run", _main_job)
    previous = _interrupt_handlers()
    try:
        return run(args) or 0
    except PatchError as error:
        _fail(str(error))
    except UserError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        print("patcher: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `patcher nodes | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush fails silently
        return 0
    except MemoryError as error:  # numpy's says how much it wanted
        detail = f" ({error})" if str(error) else ""
        _fail(f"out of memory{detail}: the patch's files and delay lines need more than is free")
        return EXIT_USER_ERROR
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return EXIT_USER_ERROR


def _interrupt_handlers() -> dict[int, Any]:
    """SIGTERM (a kill, a closed terminal's job control) ends a command as Ctrl+C does: a file
    being written is removed, not left half-written. Both also ask the render to stop, in
    case their KeyboardInterrupt is lost (raised inside a C callback, as numba's compiler
    makes). Returns the handlers replaced, to put back."""

    def interrupt(_signal: int, _frame: Any) -> None:
        request_stop()
        raise KeyboardInterrupt

    sys.unraisablehook = _quiet_when_interrupted
    replaced = {}
    try:
        replaced[signal.SIGTERM] = signal.signal(signal.SIGTERM, interrupt)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not ignored (a
            replaced[signal.SIGINT] = signal.signal(signal.SIGINT, interrupt)  # background job)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        pass
    return replaced


def _quiet_when_interrupted(unraisable: Any) -> None:
    """A KeyboardInterrupt Python could not raise (inside a C callback: numba loading a kernel)
    is not printed as a traceback: the stop it stands for is seen anyway (see above)."""
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)


def _fail(message: str) -> None:
    """Print ``message`` on stderr, its lines made visible and short: it may quote a file name
    or an OS error that nobody escaped."""
    lines = safe_lines(message.strip())
    print(f"patcher: error: {lines[0].strip()}", file=sys.stderr)
    for line in lines[1:]:
        print(f"patcher:   {line.strip()}", file=sys.stderr)


def _print_lines(text: str, stream: TextIO | None = None) -> None:
    """Print text that may name user data (node ids in a report, a warning), line by line."""
    for line in safe_lines(text):
        print(line, file=stream or sys.stdout)


def _shown(path: Path | str) -> str:
    """A file name from the command line as messages print it (it may hold escape sequences)."""
    return excerpt(path, PATH_LIMIT)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="patcher",
        description="A visual dataflow patcher for audio. With no COMMAND: the editor on "
        "patches/default.json, playing (without a display, it renders and plays that patch).",
    )
    parser.add_argument("--version", action="version", version=f"patcher {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.commands = commands  # type: ignore[attr-defined]  (main reports a command's usage)

    render = commands.add_parser("render", help="render a patch offline to WAV or FLAC")
    render.add_argument("patch", type=Path)
    render.add_argument("-o", "--output", type=Path, required=True, help="OUT.wav or OUT.flac")
    render.add_argument("--seconds", type=_positive_float, help="length (default: the patch's duration_s)")
    render.add_argument("--input", type=Path, help="audio file to play through every input node")
    render.add_argument(
        "--midi",
        type=Path,
        metavar="FILE.mid",
        help="play a MIDI file's notes and mapped CCs, each on its sample "
        f"(length: the file's and {MIDI_TAIL_S:g} s, unless --seconds)",
    )
    render.add_argument("--sample-rate", type=_int_in(8000, 192000), help="override the patch's rate")
    render.add_argument("--block", type=_int_in(1, 8192), help="override the patch's block size")
    render.add_argument(
        "--no-limit",
        action="store_true",
        help="write the engine's output unlimited (32-bit float WAV keeps peaks above 0 dBFS); by default "
        "a render is protected as a play is: limited within ±1.0, runaway loops ducked",
    )
    render.add_argument("--preset", metavar="NAME", help=PRESET_HELP)
    render.add_argument(ALLOW_FLAG, action="store_true", help=ALLOW_HELP)
    render.set_defaults(run=_render)

    check = commands.add_parser("check", help="validate a patch and describe it")
    check.add_argument("patch", type=Path)
    check.add_argument(ALLOW_FLAG, action="store_true", help=ALLOW_HELP)
    check.set_defaults(run=_check)

    play = commands.add_parser("play", help="play a patch in real time on an audio device")
    play.add_argument("patch", type=Path)
    play.add_argument("--seconds", type=_positive_float, help="stop after S seconds (default: Ctrl+C)")
    play.add_argument("--device", type=_device, help="output device: index or part of its name")
    play.add_argument("--input-device", type=_device, help="input device for live input nodes")
    play.add_argument("--block", type=_int_in(1, 8192), help="block size (default: the patch's)")
    play.add_argument(
        "--buffer",
        type=_buffer_ms,
        default=0.0,
        metavar="MS",
        help="safety buffer in ms (like Pd's -audiobuf): the engine computes this far ahead in its own "
        "thread, adding MS of latency and riding out stalls shorter than MS (default 0: it runs in the "
        "device's callback)",
    )
    play.add_argument(
        "--midi",
        metavar="PORT",
        help="play notes and mapped CCs from the MIDI input port whose name holds PORT (JACK, ALSA, ...)",
    )
    play.add_argument(
        "--osc",
        type=_int_in(1, 65535),
        metavar="PORT",
        help="take OSC on UDP 127.0.0.1:PORT: /patcher/NODE/PARAM VALUE, or the patch's mapped addresses",
    )
    play.add_argument("--report", type=Path, help="also write the playback figures as JSON")
    play.add_argument("--preset", metavar="NAME", help=PRESET_HELP)
    play.add_argument(ALLOW_FLAG, action="store_true", help=ALLOW_HELP)
    play.set_defaults(run=_play)

    edit = commands.add_parser("edit", help="open the patch editor")
    edit.add_argument(
        "patch",
        type=Path,
        nargs="?",
        default=DEFAULT_PATCH,
        help="the patch to open (default: patches/default.json; a missing file starts a new patch)",
    )
    edit.add_argument(
        "--screenshot", type=Path, metavar="OUT.png", help="render a few frames, save a PNG and exit"
    )
    edit.add_argument("--play", action="store_true", help="start playing at once")
    edit.add_argument(
        "--ui-scale",
        type=_ui_scale,
        metavar="S",
        help="size of text and panels, 0.75 to 3 (remembered; also View > UI Scale)",
    )
    edit.add_argument(
        "--midi",
        metavar="PORT",
        help="play notes and mapped CCs from the MIDI input port whose name holds PORT "
        "(for this session; also Transport > MIDI Input)",
    )
    edit.add_argument(
        "--osc",
        type=_int_in(1, 65535),
        metavar="PORT",
        help="take OSC on UDP 127.0.0.1:PORT (for this session; also Transport > OSC Input)",
    )
    edit.add_argument(ALLOW_FLAG, action="store_true", help=ALLOW_HELP + " without asking")
    edit.set_defaults(run=_edit)

    _add_pack_commands(commands)

    devices = commands.add_parser("devices", help="list the audio devices")
    devices.set_defaults(run=_devices)

    listing = commands.add_parser(
        "nodes",
        help="list every node type with its ports and params, or show one type",
        description="With no TYPE: every node type, its ports and params. With a TYPE: its doc, "
        "ports, params with their docs, and the example patches that use it.",
    )
    listing.add_argument(
        "type", nargs="?", metavar="TYPE", type=_node_type, help="one node type, such as oscillator or delay"
    )
    form = listing.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print the specs as JSON")
    form.add_argument("--markdown", action="store_true", help="print the node reference in Markdown")
    listing.set_defaults(run=_nodes)

    from patcher.analysis_cli import add_analyze_command  # imports UserError from here

    add_analyze_command(commands)
    return parser


def _add_pack_commands(commands: Any) -> None:
    pack = commands.add_parser(
        "pack",
        help="pack a patch and every audio file it uses into one .patcher file to share",
        description="Write one archive (a zip file) holding the patch and every file it uses, with "
        "its file params rewritten to name them inside it. edit, render, play, check and analyze "
        "open a .patcher file directly; unpack extracts one.",
    )
    pack.add_argument("patch", type=Path)
    pack.add_argument(
        "-o", "--output", type=Path, help="NAME.patcher (default: the patch's name, in the current folder)"
    )
    pack.add_argument(ALLOW_FLAG, action="store_true", help=ALLOW_HELP + " (and pack them)")
    pack.set_defaults(run=_pack)

    unpack = commands.add_parser(
        "unpack",
        help="extract a .patcher file: its patch and its files",
        description="Extract a .patcher file into a folder, after checking it whole: nothing is "
        "written outside the folder, and an existing file is replaced only with --force.",
    )
    unpack.add_argument("archive", type=Path, metavar="FILE.patcher")
    unpack.add_argument(
        "-o", "--output", type=Path, metavar="FOLDER", help="where to extract it (default: ./NAME)"
    )
    unpack.add_argument("--force", action="store_true", help="replace files that already exist")
    unpack.set_defaults(run=_unpack)


def version() -> str:
    """The installed package's version (pyproject.toml's), or "unknown" when run uninstalled."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("patcher")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{quote(text)} is not a number") from None
    if not np.isfinite(value) or not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{quote(text)} must be a number of seconds in (0, {MAX_SECONDS:g}]")
    return value


def _buffer_ms(text: str) -> float:
    from patcher.player import check_buffer_ms

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{quote(text)} is not a number") from None
    try:
        return check_buffer_ms(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _int_in(low: int, high: int):
    return _in_range(int, low, high)


def _ui_scale(text: str) -> float:
    from patcher.editor.camera import MAX_UI_SCALE, MIN_UI_SCALE  # not the editor's imports for every command

    return _in_range(float, MIN_UI_SCALE, MAX_UI_SCALE)(text)


def _in_range(kind: type, low: float, high: float):
    """An argparse type: a number of ``kind`` (int or float) from ``low`` to ``high``."""
    what = "a whole number" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{quote(text)} is not {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value:g} is out of range [{low:g}, {high:g}]")
        return value

    return parse


def _node_type(text: str) -> type:
    from patcher.model import unknown_type_problem
    from patcher.spec import node_class

    cls = node_class(text)
    if cls is None:
        raise argparse.ArgumentTypeError(f"{unknown_type_problem(text)} (`patcher nodes` lists them)")
    return cls


def _device(text: str) -> int | str:
    return int(text) if text.isdigit() else text


# -- commands ---------------------------------------------------------------------------
def _main_job(_args: argparse.Namespace) -> int:
    """``patcher`` alone: the editor on the default patch, playing (as VCV Rack opens with its
    patch running) where there is a display; else render it to a WAV and play that."""
    if _has_display() and _editor_available():
        from patcher.editor import run_editor

        announce_compiling()
        return run_editor(DEFAULT_PATCH, play=True)
    output = Path("out") / "default.wav"
    try:
        output.parent.mkdir(exist_ok=True)
    except OSError as error:
        raise UserError(
            f"cannot make the folder {output.parent.resolve()}: {error.strerror or error}"
        ) from None
    print("no display: rendering the default patch instead of opening the editor")
    _render(
        argparse.Namespace(
            patch=DEFAULT_PATCH,
            output=output,
            seconds=None,
            input=None,
            midi=None,
            sample_rate=None,
            block=None,
            no_limit=False,
            preset=None,
            allow_outside_files=False,
        )
    )
    _play_if_possible(DEFAULT_PATCH)
    print(f"the result is in {output.resolve()}")
    return 0


def _has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _editor_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("patcher.editor") is not None


def _play_if_possible(patch_path: Path) -> None:
    """Play the patch in real time when there is an output device; silence is not an error."""
    import time

    from patcher.patchfile import load
    from patcher.player import AudioDeviceError, Player

    try:
        import sounddevice
    except OSError as error:  # the PortAudio library itself is missing
        print(f"no PortAudio ({error}): not playing")
        return
    try:
        sounddevice.query_devices(kind="output")
    except sounddevice.PortAudioError:
        print('no sound device found: not playing (README.md, "Playing on a real machine", says how)')
        return
    patch = load(patch_path)
    player = Player(patch)
    try:
        player.start()
    except AudioDeviceError as error:
        print(f"not playing: {error}")
        return
    print(f"playing on {player.device_name} for {patch.settings.duration_s:g} s")
    try:
        time.sleep(patch.settings.duration_s)
    finally:
        player.stop()
    _print_lines(player.report().text())


def _render(args: argparse.Namespace) -> int:
    from patcher.audiofile import WRITABLE_FORMATS
    from patcher.patchfile import load
    from patcher.render import render_to_file

    output: Path = args.output
    if output.suffix.lower() not in WRITABLE_FORMATS:
        raise UserError(f"cannot write {_shown(output)}: the output must end in .wav or .flac")
    if not output.parent.is_dir():
        raise UserError(f"cannot write {_shown(output)}: folder {_shown(output.parent)} does not exist")
    if output.is_dir():  # said now, not after the whole render
        raise UserError(f"cannot write {_shown(output)}: it is a folder")
    patch = load(args.patch, args.allow_outside_files)
    _recall_preset(patch, args)
    if args.input is not None:  # the user's own file: always allowed
        _feed_input(patch, args.input)
    if not _has_output(patch):
        warning = f"{_shown(args.patch)} has no output node; the render is silent"
        print(f"patcher: warning: {warning}", file=sys.stderr)
    seconds = args.seconds or patch.settings.duration_s
    events = None
    if args.midi is not None:
        events = _read_midi(args.midi, args.sample_rate or patch.settings.sample_rate)
        rate = args.sample_rate or patch.settings.sample_rate
        seconds = args.seconds or min(events.last_sample / rate + MIDI_TAIL_S, MAX_SECONDS)
    announce_compiling()
    try:
        report = render_to_file(
            patch,
            output,
            seconds,
            args.sample_rate,
            args.block,
            show_progress=True,
            limit=not args.no_limit,
            events=events,
        )
    except OSError as error:
        raise UserError(f"cannot write {_shown(output)}: {error.strerror or error}") from None
    except RuntimeError as error:  # libsndfile's own errors (a full disk, say)
        raise UserError(f"cannot write {_shown(output)}: {error}") from None
    for warning in report.warnings:
        _print_lines(f"patcher: warning: {warning}", sys.stderr)
    if report.peak == 0.0 and events is None and _takes_notes(patch):
        print(
            f"patcher: note: {_shown(args.patch)} plays notes, and none were given: "
            "render it with --midi FILE.mid, or play it with --midi PORT",
            file=sys.stderr,
        )
    length = f"{seconds:.3f}".rstrip("0").rstrip(".")
    print(f"wrote {_shown(output)} ({length} s, {report.sample_rate} Hz, {report.peak_text()})")
    return 0


def _takes_notes(patch: Any) -> bool:
    from patcher.flatten import flatten

    return any(node.spec.TAKES_EVENTS for node in flatten(patch).nodes.values())


def _read_midi(path: Path, sample_rate: int) -> Any:
    from patcher.midi import MidiFileError, read_midi_file

    if not path.is_file():
        raise UserError(f"--midi {_shown(path)}: no such file")
    try:
        return read_midi_file(path, sample_rate)
    except MidiFileError as error:
        raise UserError(f"--midi {error}") from None


def _recall_preset(patch: Patch, args: argparse.Namespace) -> None:
    """``--preset NAME``: the preset's values set before the first sample."""
    if args.preset is not None:
        try:
            patch.recall_preset(args.preset)
        except PatchError as error:
            raise PatchError(error.problems, str(args.patch)) from None


def _feed_input(patch: Patch, audio_path: Path) -> None:
    inputs = [node_id for node_id, node in patch.nodes.items() if node.type == "input"]
    if not inputs:
        raise UserError(f"--input {_shown(audio_path)}: the patch has no input node to play it through")
    if not audio_path.exists():
        raise UserError(f"--input {_shown(audio_path)}: no such file")
    kind = special_kind(audio_path.stat().st_mode)
    if kind is not None:
        raise UserError(f"--input {_shown(audio_path)}: it is {kind}, not a file")
    for node_id in inputs:  # offline, a live input plays the file too
        patch.set_param(node_id, "source", "file")
        patch.set_param(node_id, "file", str(audio_path.resolve()))


def _play(args: argparse.Namespace) -> int:
    import time

    from patcher.patchfile import load
    from patcher.player import AudioDeviceError, Player, quiet_interpreter

    if args.report is not None:
        _check_report_path(args.report)
    _check_devices(args.device, args.input_device)  # before the patch: loading may take a while
    patch = load(args.patch, args.allow_outside_files)
    _recall_preset(patch, args)
    announce_compiling()
    if not _has_output(patch):
        print(f"patcher: warning: {_shown(args.patch)} has no output node; it plays silence", file=sys.stderr)
    player = Player(patch, args.device, args.input_device, block_size=args.block, buffer_ms=args.buffer)
    quiet_interpreter()
    # Before the stream: looking for a MIDI port takes long enough to make the first blocks late.
    live = _open_live_inputs(player, args)
    try:
        player.start()
    except AudioDeviceError as error:
        live.close()
        raise UserError(str(error)) from None
    until = "" if args.seconds else " (Ctrl+C stops)"
    print(f"playing {_shown(args.patch)} on {player.device_name}{until}")
    try:
        # A safety buffer is measured before the engine feeds it: --seconds count from then.
        player.playing.wait(timeout=5.0 + 3.0 * args.buffer / 1000.0)
        deadline = time.monotonic() + (args.seconds or float("inf"))
        while time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
            for warning in player.warnings() + live.take_warnings():
                _print_lines(f"patcher: warning: {warning}", sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        live.close()
        player.stop()
    report = player.report()
    _print_lines(report.text())
    if args.report is not None:
        _write_report(args.report, report.to_json())
    return 0


def _open_live_inputs(player: Any, args: argparse.Namespace) -> Any:
    """``--midi`` and ``--osc``: what cannot be opened is one warning, and the patch plays on."""
    from patcher.live import LiveInputError, LiveInputs

    live = LiveInputs(player)
    if args.midi is not None:
        try:
            print(f"MIDI from {quote(live.open_midi(args.midi))}")
        except LiveInputError as error:
            _print_lines(f"patcher: warning: {error}", sys.stderr)
    if args.osc is not None:
        try:
            print(f"OSC on udp://127.0.0.1:{live.open_osc(args.osc)} (/patcher/NODE/PARAM VALUE)")
        except LiveInputError as error:
            _print_lines(f"patcher: warning: {error}", sys.stderr)
    sys.stdout.flush()
    return live


def announce_compiling() -> None:
    """The first run after an install or an update compiles every node's kernels at once,
    saying so (it takes seconds), so that no later patch stops to compile."""
    from patcher.kernels import compile_notice, kernels_compiled
    from patcher.render import warm_up_kernels

    notice = compile_notice()
    if notice is not None:
        print(f"patcher: {notice}", file=sys.stderr, flush=True)
        warm_up_kernels()
        kernels_compiled()


def _check_devices(device: int | str | None, input_device: int | str | None) -> None:
    """Refuse a missing device at once, as the stream would after the patch is compiled."""
    from patcher.player import AudioDeviceError, find_devices

    try:
        find_devices(device, input_device)
    except AudioDeviceError as error:
        hint = f"\n{NO_DEVICE_HINT}" if str(error).startswith("no audio") else ""
        raise UserError(f"{error}{hint}") from None


def _has_output(patch: Patch) -> bool:
    """An output node (scopes and spectra are sinks too, but make no sound)."""
    return any(node.type == "output" for node in patch.nodes.values())


def _check_report_path(path: Path) -> None:
    """Before playing, not after: a file can be made in the report's folder."""
    import tempfile

    if path.is_dir() or not path.parent.is_dir():
        raise UserError(f"cannot write the report to {_shown(path)}: give a file in an existing folder")
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".check"):
            pass
    except OSError as error:
        raise UserError(f"cannot write the report to {_shown(path)}: {error.strerror or error}") from None


def _write_report(path: Path, text: str) -> None:
    """Write the playback report whole or not at all (the old file survives a failure)."""
    from patcher.atomic import atomic_path

    try:
        with atomic_path(path) as temporary:
            temporary.write_text(text)
    except OSError as error:
        raise UserError(f"cannot write the report to {_shown(path)}: {error.strerror or error}") from None


def _edit(args: argparse.Namespace) -> int:
    from patcher.editor import run_editor

    announce_compiling()

    return run_editor(
        args.patch,
        screenshot=args.screenshot,
        play=args.play,
        allow_outside_files=args.allow_outside_files,
        ui_scale=args.ui_scale,
        midi=args.midi,
        osc=args.osc,
    )


def _devices(_args: argparse.Namespace) -> int:
    """The devices PortAudio sees, as ``sounddevice`` lists them, and how to pick one; none at
    all is an error (exit 1), so that ``patcher devices && patcher play ...`` stops there."""
    try:
        import sounddevice
    except OSError as error:
        raise UserError(f"PortAudio is not installed ({error}); `make run` installs it") from None
    devices = sounddevice.query_devices()
    host_apis = ", ".join(api["name"] for api in sounddevice.query_hostapis()) or "none"
    if len(devices) == 0:
        raise UserError(f"no audio devices found (PortAudio's host APIs here: {host_apis})\n{NO_DEVICE_HINT}")
    print(devices)
    print(f"host APIs: {host_apis}; > marks the default output, < the default input, * both")
    print("play on one with `patcher play PATCH --device N` (its number, or part of its name)")
    return 0


def _check(args: argparse.Namespace) -> int:
    from patcher.compiler import compile_patch
    from patcher.patchfile import load

    patch = load(args.patch, args.allow_outside_files)
    schedule = compile_patch(patch)
    print(f"{_shown(args.patch)}: ok — {len(patch.nodes)} nodes, {len(patch.links)} links")
    if schedule.pruned:
        print(f"not heard (no path to an output): {first_few(schedule.pruned)}")
    if patch.presets:
        print(f"presets: {first_few(patch.presets)}")
    if patch.description:  # a shared patch's text: printed as written, but never obeyed
        print()
        print(paragraph(patch.description))
    return 0


def _pack(args: argparse.Namespace) -> int:
    from patcher.archive import ARCHIVE_SUFFIX
    from patcher.pack import archive_name, pack

    output: Path = args.output or archive_name(Path(args.patch.name))
    if output.suffix.lower() != ARCHIVE_SUFFIX:
        raise UserError(f"cannot write {_shown(output)}: a packed patch's name ends in {ARCHIVE_SUFFIX}")
    if not output.parent.is_dir():
        raise UserError(f"cannot write {_shown(output)}: folder {_shown(output.parent)} does not exist")
    if output.is_dir():
        raise UserError(f"cannot write {_shown(output)}: it is a folder")
    try:
        packed = pack(args.patch, output, args.allow_outside_files)
    except OSError as error:
        raise UserError(f"cannot write {_shown(output)}: {error.strerror or error}") from None
    count = len(packed.members)
    files = f" and {count} file{'s' * (count != 1)}" if count else ""
    print(f"wrote {_shown(output)}: {packed.patch_member}{files}")
    for member in packed.members.values():
        print(f"  {excerpt(member, PATH_LIMIT)}")
    return 0


def _unpack(args: argparse.Namespace) -> int:
    from patcher.pack import default_unpack_folder, unpack

    folder: Path = args.output or default_unpack_folder(args.archive)
    try:
        written = unpack(args.archive, folder, force=args.force)
    except OSError as error:
        raise UserError(f"cannot unpack into {_shown(folder)}: {error.strerror or error}") from None
    print(f"wrote {len(written)} file{'s' * (len(written) != 1)} into {_shown(folder)}:")
    for path in written:
        print(f"  {_shown(path.relative_to(folder))}")
    print(f"open it with: patcher edit {_shown(written[0])}")
    return 0


def _nodes(args: argparse.Namespace) -> int:
    import shutil

    from patcher.docs import node_help, node_markdown, node_reference_markdown, node_table
    from patcher.spec import registry

    width = shutil.get_terminal_size().columns  # 80 when printing into a pipe or a file
    if args.type is not None:
        if args.json:
            print(json.dumps(args.type.to_json(), indent=2))
        elif args.markdown:
            print(node_markdown(args.type), end="")
        else:
            print(node_help(args.type, width), end="")
    elif args.json:
        specs = [registry()[name].to_json() for name in sorted(registry())]
        print(json.dumps(specs, indent=2))
    elif args.markdown:
        print(node_reference_markdown(), end="")
    else:
        print(node_table(width), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
