"""The simulated park's data loggers: model samples, scripted events, delivery order.

``Engine.records`` yields protocol-neutral ``Record``s in delivery order (``sent_at``); a record is never
delivered before it was measured, so late and shuffled records wait in a heap until their time comes.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ingest.core import parameters, units
from ingest.core.models import ParkSpec, PointSpec
from simulators import signals
from simulators.events import Injector, landed
from simulators.model import ParkModel
from simulators.records import Record, Sample
from simulators.scenario import Event


class Engine:
    def __init__(
        self,
        park: ParkSpec,
        start: datetime,
        seed: int,
        events: list[Event] | None = None,
        until: datetime | None = None,
    ) -> None:
        self.park, self.start, self.until, self.seed = park, start, until, seed
        self.model = ParkModel(park, seed)
        self.injector = Injector(events or [], self.model, seed)
        self.points: dict[tuple[str, str], PointSpec] = {
            (plant.id, pt.id): pt for plant in park.plants for pt in plant.points
        }
        # instrument unit -> catalogue unit, per point and parameter: what ingest multiplies by
        self.to_catalogue = {
            key: {c: units.factor(u, parameters.BY_CODE[c].unit) for c, u in pt.parameters.items()}
            for key, pt in self.points.items()
        }
        self.seq: Counter[tuple[str, str]] = Counter()

    def records(self) -> Iterator[Record]:
        pending: list[tuple[datetime, float, int, Record]] = []
        order = 0
        for sample in self.model.samples(self.start, self.until):
            while pending and pending[0][0] <= sample.ts:
                yield heapq.heappop(pending)[3]
            for record, key in self._deliver(sample):
                order += 1
                heapq.heappush(pending, (record.sent_at, key, order, record))
        while pending:
            yield heapq.heappop(pending)[3]

    def _deliver(self, sample: Sample) -> list[tuple[Record, float]]:
        key = (sample.plant, sample.point)
        states = self.injector.active(sample.plant, sample.point, sample.ts)
        if states:
            self.injector.apply(sample, states)
        record = self._record(sample)
        if not states:
            return [(record, 0.0)]
        self.injector.note(states, record, landed(record, self.to_catalogue[key]))
        return self.injector.deliver(record, states)

    def _record(self, sample: Sample) -> Record:
        key = (sample.plant, sample.point)
        point = self.points[key]
        self.seq[key] += 1
        wire = {}
        for code, value in sample.values.items():
            to_instrument = 1.0 / self.to_catalogue[key][code]
            wire[code] = signals.quantise(code, value * to_instrument)
        return Record(
            sample.plant,
            sample.point,
            sample.ts,
            wire,
            dict(sample.flags),
            self.seq[key],
            sample.ts,
            point.mn,
        )

    def truth(self) -> dict[str, Any]:
        """The ground truth: every scripted event and the samples it touched."""
        return {
            "park": self.park.id,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "until": self.until.isoformat() if self.until else None,
            "events": self.injector.truth(),
        }
