"""Mappings: a param played by a MIDI CC or an OSC address, saved in the patch, scaled with
the param's own range and scale; bad mappings are refused at load, naming the culprit."""

from __future__ import annotations

import copy
import json

import pytest

from patcher.control import ControlMap
from patcher.model import ControlMapping, PatchError
from patcher.patchfile import dumps, loads
from tests.test_patchfile import VALID


def with_mappings(mappings: object, version: int = 2) -> str:
    document = copy.deepcopy(VALID)
    document["version"] = version
    document["nodes"].append({"id": "lp", "type": "filter", "params": {}, "position": [0, 200]})
    document["mappings"] = mappings
    return json.dumps(document)


MAPPINGS = [
    {"param": "lp.cutoff_hz", "midi_cc": 74, "channel": 1},
    {"param": "level.gain_db", "midi_cc": 7},
    {"param": "lp.q", "osc": "/fader/1"},
]


def test_mappings_round_trip_and_follow_a_removed_node() -> None:
    patch = loads(with_mappings(MAPPINGS))
    assert patch.mappings == [
        ControlMapping("lp.cutoff_hz", 74, 1),
        ControlMapping("level.gain_db", 7),
        ControlMapping("lp.q", osc="/fader/1"),
    ]
    assert json.loads(dumps(patch))["mappings"] == MAPPINGS
    patch.remove_node("lp")
    assert json.loads(dumps(patch))["mappings"] == [{"param": "level.gain_db", "midi_cc": 7}]
    patch.remove_node("level")
    assert "mappings" not in json.loads(dumps(patch))


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"param": "lp.cutof_hz", "midi_cc": 74}, "mapping #1: node 'lp' (filter): unknown param 'cutof_hz'"),
        ({"param": "lo.cutoff_hz", "midi_cc": 74}, "mapping #1: no node 'lo' for 'lo.cutoff_hz'"),
        ({"param": "lp.type", "midi_cc": 74}, "param 'lp.type' is not a number"),
        ({"param": "lp", "midi_cc": 74}, 'must name a node\'s param as "node.param"'),
        ({"param": "lp.q", "midi_cc": 128}, '"midi_cc" must be a controller number 0..127, got 128'),
        ({"param": "lp.q", "midi_cc": 1, "channel": 0}, '"channel" must be a MIDI channel 1..16'),
        ({"param": "lp.q", "osc": "fader"}, '"osc" must be an OSC address'),
        ({"param": "lp.q", "osc": "/a b"}, "holds a character OSC reserves"),
        ({"param": "lp.q", "midi_cc": 1, "osc": "/q"}, 'either "midi_cc" (and "channel") or "osc"'),
        ({"param": "lp.q", "midi_cc": 1, "chanel": 1}, "unknown key 'chanel'; did you mean 'channel'?"),
    ],
)
def test_bad_mappings_are_refused_naming_the_culprit(mapping: dict, message: str) -> None:
    with pytest.raises(PatchError) as error:
        loads(with_mappings([mapping]))
    assert message in str(error.value)


def test_mappings_need_format_version_2() -> None:
    with pytest.raises(PatchError, match="'mappings' needs format version 2"):
        loads(with_mappings(MAPPINGS, version=1))


def test_a_cc_is_spread_over_the_params_range_on_its_scale() -> None:
    patch = loads(with_mappings(MAPPINGS))
    controls = ControlMap(patch)
    cutoff = controls.control_change(1, 74, 0.5)
    assert cutoff[0][:2] == ("lp", "cutoff_hz")
    spec = patch.nodes["lp"].spec.PARAMS["cutoff_hz"]
    low, high = spec.min, spec.max  # spread by octaves (log): halfway is their geometric mean
    assert cutoff[0][2] == pytest.approx((low * high) ** 0.5)
    assert controls.control_change(1, 74, 0.0)[0][2] == pytest.approx(low)
    assert controls.control_change(2, 74, 1.0) == []  # mapped on channel 1 only
    assert controls.control_change(9, 7, 1.0) == [("level", "gain_db", 24.0)]  # any channel; linear
    assert controls.control_change(1, 7, 0.5)[0][2] == pytest.approx(-33.0)


def test_osc_a_params_own_address_takes_its_value_a_mapped_one_a_fraction() -> None:
    controls = ControlMap(loads(with_mappings(MAPPINGS)))
    assert controls.osc_message("/patcher/lp/cutoff_hz", (1200.0,)) == ("lp", "cutoff_hz", 1200.0)
    assert controls.osc_message("/patcher/level/gain_db", (-6,)) == ("level", "gain_db", -6.0)
    q = controls.osc_message("/fader/1", (1.0,))
    assert q[:2] == ("lp", "q") and q[2] == pytest.approx(
        loads(with_mappings([])).nodes["lp"].spec.PARAMS["q"].max
    )
    for address, arguments, message in [
        ("/patcher/lp/cutoff", (1.0,), "no param answers it"),
        ("/patcher/lp/cutoff_hz", (1.0, 2.0), "expected one number"),
        ("/patcher/lp/cutoff_hz", ("loud",), "expected one number"),
        ("/patcher/lp/cutoff_hz", (1e9,), "out of range"),
        ("/patcher/lp/cutoff_hz", (float("inf"),), "a finite number"),
        ("/fader/1", (float("nan"),), "a finite number"),  # not the minimum, silently
    ]:
        with pytest.raises(ValueError, match=message):
            controls.osc_message(address, arguments)
