"""Scripted events acting on the stream, and the ground truth of what they did.

Value and flag events change a ``Sample`` (catalogue units) before it is put on the wire; delivery
events change how its ``Record`` travels; park events change the model's water balance. Every event
notes each sample it touched, with what should land in the database, so tests and demos can compare.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from simulators import scenario
from simulators.model import ParkModel, Window
from simulators.records import DEFECTS, Record, Sample
from simulators.scenario import Event

FLAG_OF = {"maintenance": "M", "calibration": "C"}
# A record's place among records delivered at the same instant: 0 for ordinary traffic.
Keyed = tuple[Record, float]


@dataclass
class _State:
    event: Event
    touched: int = 0
    held: float | None = None  # flatline: the value being repeated
    samples: list[dict[str, Any]] = field(default_factory=list)


class Injector:
    def __init__(self, events: list[Event], model: ParkModel, seed: int) -> None:
        self.states = [_State(e) for e in events]
        self.rng = random.Random(f"{seed}/events")
        self.by_point: dict[tuple[str | None, str | None], list[_State]] = defaultdict(list)
        self.central: dict[str, tuple[str, str]] = {}  # point kind -> (plant, point) of the central plant
        self.intervals: dict[tuple[str, str], int] = {}
        for plant in model.park.plants:
            for pt in plant.points:
                self.intervals[(plant.id, pt.id)] = pt.interval_s
                if pt.kind in ("central_inlet", "central_outlet", "reuse_outlet"):
                    self.central.setdefault(pt.kind, (plant.id, pt.id))
        self.model = model
        for state in self.states:
            event = state.event
            window = Window(event.start, event.end, _amount(event))
            if event.type == "bypass":
                model.bypass.setdefault(event.plant or "", []).append(window)
                self.by_point[self.central.get("central_inlet", (None, None))].append(state)
            elif event.type == "reuse_drop":
                model.reuse.append(window)
                self.by_point[(event.plant, event.point)].append(state)
                self.by_point[self.central.get("central_outlet", (None, None))].append(state)
            else:
                self.by_point[(event.plant, event.point)].append(state)

    def active(self, plant: str, point: str, ts: datetime) -> list[_State]:
        return [s for s in self.by_point.get((plant, point), ()) if s.event.start <= ts < s.event.end]

    def apply(self, sample: Sample, states: list[_State]) -> None:
        """Value and flag events, in scenario order, on a sample in catalogue units."""
        for state in states:
            event = state.event
            if event.type in scenario.VALUE_EVENTS:
                code = event.parameter or ""
                sample.values[code] = self._value(state, sample, code)
                if event.type == "over_range":
                    sample.flags[code] = "T"
                elif event.type == "implausible":
                    sample.flags.pop(code, None)  # the point: a broken monitor still says N
            elif event.type in scenario.FLAG_EVENTS:
                flag = FLAG_OF.get(event.type, event.spec.flag)
                for code in [event.parameter] if event.parameter else list(sample.values):
                    sample.flags[code] = flag
                    if event.type == "calibration" and event.spec.value is not None:
                        sample.values[code] = event.spec.value

    def _value(self, state: _State, sample: Sample, code: str) -> float:
        event, base = state.event, sample.values[code]
        spec = event.spec
        progress = _progress(event, sample.ts, self.intervals.get((sample.plant, sample.point), 60))
        if event.type == "exceedance" and spec.shape == "ramp":
            return base + ((spec.value or 0.0) - base) * progress
        if event.type == "exceedance" and spec.shape == "spike":
            # The first reading in the window peaks, then the slug washes out, halving each reading.
            return base + ((spec.value or 0.0) - base) * 0.5**state.touched
        if event.type == "drift":
            return base + (spec.by or 0.0) * progress
        if event.type == "flatline":
            if state.held is None:
                state.held = spec.value if spec.value is not None else base
            return state.held
        if event.type == "implausible":
            return spec.value if spec.value is not None else (0.0 if code == "ph" else -1.0)
        return spec.value if spec.value is not None else base

    def note(self, states: list[_State], record: Record, landed: dict[str, float]) -> None:
        """Ground truth of value, flag and park events: what the database should hold."""
        for state in states:
            event = state.event
            if event.type in scenario.DELIVERY_EVENTS:
                continue
            codes = [event.parameter] if event.parameter else list(landed)
            entry: dict[str, Any] = {"ts": record.ts.isoformat(), "point": f"{record.plant}/{record.point}"}
            entry["values"] = {c: landed[c] for c in codes if c in landed}
            entry["flags"] = {c: record.flags.get(c, "N") for c in codes if c in landed}
            if event.type == "heavy_metal_ug":
                entry["wire"] = {c: record.values[c] for c in codes}
            if event.type == "bypass":
                plant = self.model.plants[event.plant or ""]
                lost = self.model.plant_flow(plant, record.ts) * event.spec.fraction
                entry["missing_flow"] = round(lost, 4)
            state.samples.append(entry)
            state.touched += 1

    def deliver(self, record: Record, states: list[_State]) -> list[Keyed]:
        """Delivery events, in scenario order: each may drop, delay, repeat, shuffle or break records."""
        out: list[Keyed] = [(record, 0.0)]
        for state in states:
            if state.event.type in scenario.DELIVERY_EVENTS:
                out = [item for rec, key in out for item in self._deliver(state, rec, key)]
        return out

    def _deliver(self, state: _State, record: Record, key: float) -> list[Keyed]:
        event, spec = state.event, state.event.spec
        entry: dict[str, Any] = {"ts": record.ts.isoformat(), "seq": record.seq}
        state.samples.append(entry)
        state.touched += 1
        if event.type == "dropout":
            return []
        if event.type == "late_batch":
            sent = event.end + scenario.span(spec.delay)
            entry["sent_at"] = sent.isoformat()
            return [(replace(record, sent_at=sent), key)]
        if event.type == "duplicates":
            entry["copies"] = spec.copies
            return [(record, key)] * spec.copies
        if event.type == "out_of_order":
            # Held in the logger's store, flushed at the end in any order; the oldest goes last so the
            # batch is never accidentally in order.
            order = 2.0 if state.touched == 1 else 1.0 + self.rng.random()
            entry["sent_at"] = event.end.isoformat()
            return [(replace(record, sent_at=event.end), order)]
        if event.type == "malformed":
            defect = spec.defect or DEFECTS[(state.touched - 1) % len(DEFECTS)]
            entry["defect"] = defect
            return [(replace(record, defect=defect), key)]
        skewed = record.ts + scenario.span(spec.offset or "0s")
        entry["sent_ts"] = skewed.isoformat()
        return [(replace(record, ts=skewed), key)]

    def truth(self) -> list[dict[str, Any]]:
        out = []
        for state in self.states:
            item = scenario.as_dict(state.event)
            item["messages"] = state.touched
            if state.event.type == "reuse_drop":
                item["expected_ratio"] = round(self.model.reuse_ratio * state.event.spec.factor, 4)
                item["normal_ratio"] = round(self.model.reuse_ratio, 4)
            item["samples"] = state.samples
            out.append(item)
        return out


def _amount(event: Event) -> float:
    return event.spec.fraction if event.type == "bypass" else event.spec.factor


def _progress(event: Event, ts: datetime, interval: int) -> float:
    """How far through its window a reading is, reaching 1 at the last reading inside the window."""
    total = (event.end - event.start).total_seconds()
    return min(1.0, ((ts - event.start).total_seconds() + interval) / total) if total > 0 else 1.0


def landed(record: Record, factors: dict[str, float]) -> dict[str, float]:
    """What ingest stores for a record's values: the wire value times the unit factor."""
    return {code: float(value) * factors[code] for code, value in record.values.items()}
