"""``patcher analyze``: measure a patch (or a chain in it), write the report, capture its IR.

Hooked into ``patcher.cli`` by two lines in ``_parser()``::

    from patcher.analysis_cli import add_analyze_command
    add_analyze_command(commands)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from patcher.files import ALLOW_FLAG, ALLOW_HELP
from patcher.text import PATH_LIMIT, excerpt, safe_lines

LEVEL_RANGE_DBFS = (-80.0, 12.0)


def add_analyze_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``analyze`` on the ``patcher`` command's subparsers and return its parser."""
    analyze = subparsers.add_parser(
        "analyze",
        help="measure linearity, time invariance, distortion and the impulse response; capture it",
        description="Is the patch (or the chain between two ports) linear and time-invariant, and "
        "does its impulse response capture it? Writes summary.txt, report.json, ir.wav and PNG plots.",
    )
    analyze.add_argument("patch", type=Path)
    analyze.add_argument(
        "--from",
        dest="from_port",
        metavar="NODE.PORT",
        help="where the test signal enters: an input port (instead of its links) or an output port "
        "(replacing it for what it feeds); default: the output of every input node",
    )
    analyze.add_argument(
        "--to",
        dest="to_port",
        metavar="NODE.PORT",
        help="where the response is taken: an output port, or an input port (the sum linked into it); "
        "default: the output node's left input",
    )
    analyze.add_argument(
        "--level",
        dest="level_dbfs",
        type=_level,
        default=-6.0,
        metavar="DBFS",
        help="peak level of the test signals (default: -6)",
    )
    analyze.add_argument(
        "-o", "--output-dir", dest="report_dir", type=Path, help="report folder (default: analysis-PATCHNAME)"
    )
    analyze.add_argument(
        "--json", action="store_true", help="print the figures as JSON instead of the summary"
    )
    analyze.add_argument(
        "--input",
        dest="material",
        type=Path,
        metavar="FILE",
        help="audio file for the null test, played at its own level (default: built-in material at --level)",
    )
    analyze.add_argument(
        "--ir-method",
        choices=("impulse", "sweep"),
        default="impulse",
        help="which measured IR the null test and a capture use (default: impulse)",
    )
    analyze.add_argument(
        "--ir-seconds",
        type=_seconds,
        metavar="S",
        help="IR length (default: until it dies away, at most 5 s)",
    )
    analyze.add_argument(
        "--capture",
        type=Path,
        metavar="OUT.json",
        help="write a new patch with the chain replaced by a convolver holding its IR (OUT-ir.wav beside "
        "it); OUT.patcher packs it with its IR and every file it uses",
    )
    analyze.add_argument(
        "--beside",
        action="store_true",
        help="with --capture: keep the chain and put the convolver beside it, behind an A/B mix node",
    )
    analyze.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    analyze.add_argument(ALLOW_FLAG, action="store_true", help=ALLOW_HELP)
    analyze.set_defaults(run=run_analyze)
    return analyze


def _level(text: str) -> float:
    low, high = LEVEL_RANGE_DBFS
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of dBFS") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text} dBFS is out of range [{low:g}, {high:g}]")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0.0 < value <= 30.0:
        raise argparse.ArgumentTypeError(f"{text} s must be above 0 and at most 30")
    return value


def run_analyze(args: argparse.Namespace) -> int:
    """The ``analyze`` command: raises UserError or PatchError for the user's mistakes."""
    from patcher.analysis import analyze, read_material
    from patcher.analysis_report import figures_json, summary_text, write_report
    from patcher.cli import UserError, announce_compiling
    from patcher.patchfile import load

    if args.beside and args.capture is None:
        raise UserError("--beside places a capture beside the chain: use it with --capture OUT.json")
    if args.capture is not None and not args.capture.resolve().parent.is_dir():
        capture, folder = excerpt(args.capture, PATH_LIMIT), excerpt(args.capture.parent, PATH_LIMIT)
        raise UserError(f"cannot write {capture}: folder {folder} does not exist")
    patch = load(args.patch, args.allow_outside_files)
    _check_capture_target(args, patch)
    announce_compiling()
    material, material_name = None, "test material"
    if args.material is not None:
        shown = excerpt(args.material, PATH_LIMIT)
        if not args.material.is_file():
            raise UserError(f"--input {shown}: no such file")
        try:
            material = read_material(args.material, patch.settings.sample_rate)
        except OSError as error:
            raise UserError(f"--input {shown}: {error}") from None
        material_name = str(args.material)
    analysis = analyze(
        patch,
        args.from_port,
        args.to_port,
        level_dbfs=args.level_dbfs,
        material=material,
        material_name=material_name,
        ir_method=args.ir_method,
        ir_seconds=args.ir_seconds,
        patch_name=args.patch.name,
    )
    report_dir = args.report_dir or Path(f"analysis-{args.patch.stem}")
    notes = sys.stderr if args.json else sys.stdout
    try:
        written = write_report(analysis, report_dir, plots=not args.no_plots)
        if args.capture is not None:
            _capture(args, patch, analysis.captured_ir)
    except OSError as error:
        raise UserError(f"cannot write the report: {error.strerror or error}") from None
    if args.json:
        figures = json.loads(figures_json(analysis))
        figures["files"] = [str(path) for path in written]
        print(json.dumps(figures, indent=2))
    else:
        print("\n".join(safe_lines(summary_text(analysis))), end="")  # it names the patch and ports
    files = ", ".join(excerpt(path.name) for path in written)
    print(f"wrote the report to {excerpt(report_dir, PATH_LIMIT)}/ ({files})", file=notes)
    if args.capture is not None:
        capture, stem = excerpt(args.capture, PATH_LIMIT), excerpt(args.capture.stem)
        if _packs(args.capture):
            print(f"wrote {capture}: the captured patch with its IR and every file it uses", file=notes)
        else:
            print(f"wrote {capture} and {stem}-ir.wav beside it", file=notes)
    return 0


def _packs(capture: Path) -> bool:
    return capture.suffix.lower() == ".patcher"


def _check_capture_target(args: argparse.Namespace, patch: Any) -> None:
    """A packed patch's files live in a folder that goes when patcher ends: a capture beside
    them would name files that are gone, so it must be packed too."""
    from patcher.archive import is_extracted
    from patcher.cli import UserError

    if args.capture is not None and not _packs(args.capture) and is_extracted(patch.base_dir):
        raise UserError(
            f"{excerpt(args.patch, PATH_LIMIT)} is a packed patch: capture it into a .patcher file "
            f"(--capture {excerpt(args.capture.stem)}.patcher), which holds the files it uses"
        )


def _capture(args: argparse.Namespace, patch: Any, impulse_response: Any) -> None:
    """``--capture``: the patch with the chain captured, as JSON beside its IR, or packed."""
    import tempfile

    from patcher.analysis import capture_patch
    from patcher.pack import pack

    note = f" Measured at {args.level_dbfs:g} dBFS ({args.ir_method})."
    where = (args.from_port, args.to_port)
    if not _packs(args.capture):
        capture_patch(patch, impulse_response, args.capture, *where, beside=args.beside, note=note)
        return
    with tempfile.TemporaryDirectory(prefix="patcher-capture-") as folder:
        written = Path(folder) / f"{args.capture.stem}.json"
        capture_patch(patch, impulse_response, written, *where, beside=args.beside, note=note)
        pack(written, args.capture, allow_outside_files=True)  # its files are where they were
