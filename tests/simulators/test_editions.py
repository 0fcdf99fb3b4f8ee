"""Two simulators split one park by the HJ 212 edition its park file gives each logger (`--only-edition`,
`--skip-edition`), as `outfall run` does: the same seed and start give the same records, each logger's in
exactly one of the two runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulators.__main__ import build_parser, main, sample_park_path
from simulators.plan import make_plan

START = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
SHOPS_2025 = {"shop-01", "shop-02", "shop-03", "shop-04"}  # config.hj212.edition_points of the sample park


def _records(*extra: str) -> list[tuple[str, str, datetime]]:
    argv = ["--park", str(sample_park_path()), "--start", START.isoformat(), "--duration", "3m", *extra]
    plan = make_plan(build_parser().parse_args(argv))
    return [(r.plant, r.point, r.ts) for r in plan.records]


def test_the_2025_loggers_and_the_others_split_the_park_without_a_gap_or_a_twin() -> None:
    everything = _records()
    tcp = _records("--only-edition", "2025")
    mqtt = _records("--skip-edition", "2025")
    assert {plant for plant, _, _ in tcp} == SHOPS_2025
    assert not {plant for plant, _, _ in mqtt} & SHOPS_2025
    assert sorted(tcp + mqtt) == sorted(everything)


def test_a_park_without_2025_loggers_leaves_nothing_to_send(capsys: pytest.CaptureFixture[str]) -> None:
    dyeing = str(sample_park_path("dyeing"))
    assert main(["--park", dyeing, "--transport", "tcp", "--only-edition", "2025"]) == 0
    assert "nothing to send: no logger of park" in capsys.readouterr().out
