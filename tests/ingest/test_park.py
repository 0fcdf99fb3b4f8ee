"""The park file: the sample parks load, and every mistake is reported with its line and field."""

from __future__ import annotations

import pytest

from ingest.core import parameters, park
from simulators.__main__ import sample_park_path


def test_sample_electroplating_park_has_57_shops_and_the_central_plant():
    spec = park.parse(sample_park_path().read_text(encoding="utf-8"))
    shops = [p for p in spec.plants if p.kind == "enterprise"]
    central = [p for p in spec.plants if p.kind == "central_plant"]
    assert len(shops) == 57 and len(central) == 1
    for shop in shops:
        kinds = {pt.kind: pt for pt in shop.points}
        assert set(kinds["workshop_outlet"].parameters) == {"cr_total", "cr6", "ni", "cu", "zn", "ph"}
        assert set(kinds["total_outlet"].parameters) == {"cod", "nh3_n", "tn", "tp", "ph", "flow", "cn_total"}
        assert kinds["workshop_outlet"].parameters["cr6"] == "µg/L"
    assert {pt.kind for pt in central[0].points} == {"central_inlet", "central_outlet", "reuse_outlet"}
    mns = [pt.mn for p in spec.plants for pt in p.points]
    assert len(set(mns)) == len(mns) == 117
    # every plant has its place on the site plan, no two on the same spot
    places = [p.position for p in spec.plants]
    assert None not in places and len(set(places)) == len(places)


GOOD = """\
id: p1
name: P
industry: electroplating
plants:
  - id: a
    name: A
    points:
      - id: total
        kind: total_outlet
        parameters: [cod, w21003]
"""


def test_list_parameters_take_the_hj212_default_unit_and_aliases_become_canonical():
    spec = park.parse(GOOD)
    assert spec.plants[0].points[0].parameters == {"cod": "mg/L", "nh3_n": "mg/L"}
    assert spec.timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("id: p1", "id: P 1"), "line 1: field id: String should match pattern"),
        (GOOD.replace("industry: electroplating", "industry: mining"), "line 3: field industry"),
        (
            GOOD.replace("[cod, w21003]", "[cod, xyz]"),
            "line 10: field plants.0.points.0.parameters: Value error, unknown parameter 'xyz'",
        ),
        (GOOD.replace("[cod, w21003]", "{cod: kg}"), "unknown unit 'kg'"),
        (GOOD.replace("[cod, w21003]", "{cod: L/s}"), "cannot convert L/s (flow) to mg/L (concentration)"),
        (GOOD.replace("kind: total_outlet", "kind: outlet"), "line 9: field plants.0.points.0.kind"),
        (
            GOOD + "      - id: total\n        kind: total_outlet\n        parameters: [cod]\n",
            "duplicate point id 'total'",
        ),
        (GOOD + "timezone: Mars/Olympus\n", "unknown time zone 'Mars/Olympus'"),
        (
            GOOD.replace("name: A\n", "name: A\n    colour: red\n"),
            "line 7: field plants.0.colour: Extra inputs are not permitted",
        ),
        (
            GOOD.replace("        parameters: [cod, w21003]\n", ""),
            "field plants.0.points.0.parameters: Field required",
        ),
        (
            GOOD.replace("name: A\n", "name: A\n    position: [50, 101]\n"),
            "field plants.0.position: Value error, position is [x, y] in percent of the site plan",
        ),
        (GOOD.replace("name: A\n", "name: A\n    position: [50]\n"), "field plants.0.position"),
        ("id: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "a park file is a YAML mapping"),
    ],
)
def test_errors_name_the_line_and_the_field(text, expected):
    with pytest.raises(park.ParkFileError) as err:
        park.parse(text)
    assert expected in str(err.value)


def test_catalogue_codes_are_unique_and_units_known():
    from ingest.core import units

    codes = [p.code for p in parameters.CATALOGUE]
    assert len(set(codes)) == len(codes)
    for p in parameters.CATALOGUE:
        assert units.factor(p.hj212_unit, p.unit) > 0
        assert p.plausible_min < p.plausible_max
    # the unit trap of HJ 212-2017 Table B.1: these report µg/L (or ng/L) by default and are stored in mg/L
    for code in ("hg", "cd", "cr6", "as", "pb"):
        assert units.factor(parameters.BY_CODE[code].hj212_unit, "mg/L") == pytest.approx(1e-3)


def test_st_44_and_45_factors_are_allowed_in_the_park_file_and_hj212_settings_are_checked():
    text = GOOD.replace("[cod, w21003]", "[cod, d20001, d30001, p99001, p99002]")
    text += "config:\n  hj212: {strict: true, sm4_text: brace, sm4_text_points: {a/total: hex-tail}}\n"
    spec = park.parse(text)
    assert set(spec.plants[0].points[0].parameters) == {
        "cod",
        "elec_prod_energy",
        "elec_treat_energy",
        "prod_state",
        "prod_load",
    }
    for family in parameters.ST_FAMILIES.values():
        assert any(p.hj212_2017 and p.hj212_2017.startswith(family) for p in parameters.CATALOGUE)
    with pytest.raises(park.ParkFileError, match="SM4 text form 'base64'"):
        park.parse(GOOD + "config:\n  hj212: {sm4_text: base64}\n")
    with pytest.raises(park.ParkFileError, match="strict must be true or false"):
        park.parse(GOOD + "config:\n  hj212: {strict: maybe}\n")


def test_allow_from_takes_networks_and_refuses_anything_else():
    text = GOOD.replace(
        "        parameters: [cod, w21003]",
        "        mn: AB12345\n        allow_from: [10.8.0.0/16, 192.0.2.7]\n        parameters: [cod]",
    )
    (point,) = park.parse(text).plants[0].points
    assert point.allow_from == ("10.8.0.0/16", "192.0.2.7/32")
    with pytest.raises(park.ParkFileError, match="allow_from"):
        park.parse(text.replace("192.0.2.7", "not-a-network"))
