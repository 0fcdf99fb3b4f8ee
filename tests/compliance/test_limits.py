"""Limit resolution: standard, point kind, discharge mode, permits with dates; strictest applies."""

from __future__ import annotations

from datetime import UTC, datetime

from compliance import limits, standards
from ingest.core import park as park_file
from ingest.core.models import ParkSpec

PLATING = """
id: p1
name: P
industry: electroplating
standard: GB21900-2008-T2
config:
  permits:
    - {{plant: shop-01, point: total, parameter: cod, upper: 60, from: 2026-01-01, to: 2027-01-01, ref: P-1}}
    - {{plant: shop-01, point: total, parameter: cod, upper: 95, ref: LOOSE}}
plants:
  - id: shop-01
    name: S
    points:
      - {{id: workshop, kind: workshop_outlet, parameters: {{cr6: µg/L, ni: mg/L, cod: mg/L}}}}
      - {{id: total, kind: total_outlet, parameters: {{cod: mg/L, ni: mg/L, ph: pH}}}}
  - id: central
    name: C
    kind: central_plant
    points:
      - {{id: inlet, kind: central_inlet, parameters: [cod, flow]}}
      - {{id: reuse, kind: reuse_outlet, parameters: [cod, nh3_n, oil]}}
"""

DYEING = """
id: d1
name: D
industry: dyeing
standard: GB4287-2012-T2
config: {config}
plants:
  - id: dye-01
    name: S
    points:
      - {{id: total, kind: total_outlet, discharge_mode: {mode}, parameters: [cod, bod5, nh3_n, sb, ph]}}
      - {{id: workshop, kind: workshop_outlet, parameters: [cr6]}}
"""


def _resolve(spec: ParkSpec, plant: str, point: str, code: str, at: datetime | None = None) -> object:
    pl = next(p for p in spec.plants if p.id == plant)
    pt = next(p for p in pl.points if p.id == point)
    return limits.resolve(spec, pl, pt, code, at)


def _upper(spec: ParkSpec, plant: str, point: str, code: str, at: datetime | None = None) -> float | None:
    res = _resolve(spec, plant, point, code, at)
    return res.limit.upper if res.limit else None  # type: ignore[attr-defined]


def test_catalogue_only_confirmed_figures_are_enforced_by_default() -> None:
    cat = standards.catalogue()
    assert cat["GB21900-2008-T2"].limit_for("cr6").upper == 0.2  # type: ignore[union-attr]
    assert cat["GB21900-2008-T3"].limit_for("ni").upper == 0.1  # type: ignore[union-attr]
    assert cat["GB4287-2012-T2-indirect"].limit_for("cod").upper_park_pretreatment == 500  # type: ignore[union-attr]
    assert not cat["FZT01107-2011"].confirmed
    assert all(s.table for s in cat.values())


def test_metals_at_workshop_outlet_rest_at_total_outlet() -> None:
    spec = park_file.parse(PLATING.format())
    assert _upper(spec, "shop-01", "workshop", "cr6") == 0.2
    assert _upper(spec, "shop-01", "workshop", "ni") == 0.5
    assert _upper(spec, "shop-01", "total", "ni") is None
    assert _upper(spec, "shop-01", "workshop", "cod") is None
    res = _resolve(spec, "shop-01", "total", "ph")
    assert res.limit.lower == 6 and res.limit.upper == 9  # type: ignore[attr-defined]
    assert _upper(spec, "central", "inlet", "cod") is None


def test_permit_with_dates_strictest_applies() -> None:
    spec = park_file.parse(PLATING.format())
    before = datetime(2025, 6, 1, tzinfo=UTC)
    during = datetime(2026, 6, 1, tzinfo=UTC)
    after = datetime(2027, 6, 1, tzinfo=UTC)
    assert _upper(spec, "shop-01", "total", "cod", before) == 80  # looser permit loses to the standard
    assert _upper(spec, "shop-01", "total", "cod", during) == 60
    assert _upper(spec, "shop-01", "total", "cod", after) == 80
    res = _resolve(spec, "shop-01", "total", "cod", during)
    assert "permit P-1" in res.limit.source  # type: ignore[attr-defined]
    # effective dates are park-local midnights
    seg = next(s for s in res.segments if s.limit.upper == 60)  # type: ignore[attr-defined]
    assert seg.valid_from == datetime(2025, 12, 31, 16, tzinfo=UTC)


def test_reuse_outlet_uses_reuse_standard_and_skips_unconfirmed() -> None:
    spec = park_file.parse(PLATING.format())
    assert _upper(spec, "central", "reuse", "cod") == 60
    res = _resolve(spec, "central", "reuse", "oil")
    assert res.limit is None and any("UNCONFIRMED" in r for r in res.reasons)  # type: ignore[attr-defined]
    enabled = park_file.parse(
        PLATING.format().replace(
            "config:\n", 'config:\n  unconfirmed_limits: ["GBT19923-2005-process_and_product:oil"]\n'
        )
    )
    res = _resolve(enabled, "central", "reuse", "oil")
    assert res.limit.upper == 1 and not res.limit.confirmed  # type: ignore[attr-defined]


def test_dyeing_modes_and_amendment() -> None:
    direct = park_file.parse(DYEING.format(config="{}", mode="direct"))
    assert _upper(direct, "dye-01", "total", "cod") == 80
    assert _upper(direct, "dye-01", "total", "sb") == 0.1
    indirect = park_file.parse(DYEING.format(config="{}", mode="indirect"))
    assert _upper(indirect, "dye-01", "total", "cod") == 200
    pre = park_file.parse(DYEING.format(config="{dyeing_pretreatment_plant: true}", mode="indirect"))
    assert _upper(pre, "dye-01", "total", "cod") == 500
    assert _upper(pre, "dye-01", "total", "bod5") == 150
    municipal = park_file.parse(DYEING.format(config="{municipal_bound: true}", mode="indirect"))
    assert _upper(municipal, "dye-01", "total", "cod") == 80
    batik = park_file.parse(DYEING.format(config="{batik: true}", mode="direct"))
    assert _upper(batik, "dye-01", "total", "nh3_n") == 15
    # Cr(VI) not detected at the workshop outlet: 0 unless the park sets a detection limit
    res = _resolve(direct, "dye-01", "workshop", "cr6")
    assert res.limit.upper == 0 and res.limit.not_detected  # type: ignore[attr-defined]
    mdl = park_file.parse(DYEING.format(config="{detection_limits: {cr6: 0.004}}", mode="direct"))
    assert _upper(mdl, "dye-01", "workshop", "cr6") == 0.004


def test_every_stored_source_reads_back_as_its_standard_or_permit() -> None:
    """The label resolution stores with a limit and the reading of it (the plant file's sources) stay
    in step: for the sample parks, the dyeing variants and the permits, no source reads as 'other'."""
    from simulators.__main__ import sample_park_path

    specs = [park_file.parse(PLATING.format())]
    specs += [
        park_file.parse(sample_park_path(n).read_text(encoding="utf-8")) for n in ("electroplating", "dyeing")
    ]
    specs += [park_file.parse(DYEING.format(config=c, mode="indirect")) for c in ("{batik: true}", "{}")]
    specs.append(park_file.parse(DYEING.format(config="{dyeing_pretreatment_plant: true}", mode="indirect")))
    seen, notes = set(), set()
    for spec in specs:
        for _plant, _point, res in limits.resolve_park(spec):
            for seg in res.segments:
                for source in limits.sources(seg.limit.source):
                    assert source.kind != "other", seg.limit.source
                    seen.add(source.kind)
                    if source.kind == "standard":
                        std = standards.catalogue()[source.standard or ""]
                        assert (source.table, source.title) == (std.table, std.title)
                        assert source.label.startswith(f"{std.id} ({std.table})")
                        notes.add(source.note)
    assert seen == {"standard", "permit"}
    assert {None, "batik value", "amendment note (4) park pre-treatment"} <= notes
    (permit,) = limits.sources("permit P-1")
    assert (permit.kind, permit.permit) == ("permit", "P-1")
    assert [s.kind for s in limits.sources("hand-set; permit X")] == ["other", "permit"]
