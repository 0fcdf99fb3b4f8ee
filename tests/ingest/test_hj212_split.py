"""Split packets (PNUM/PNO) on outfall/hj212/{MN}: held unacknowledged until whole, then decoded as one
packet through the gateway's Reassembler; through the real broker and worker into the real database."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.core.decoded import Rejected
from ingest.core.secrets import Verifier
from ingest.hj212 import codec as hj212
from ingest.hj212 import records as hj212_records
from ingest.hj212 import split as hj212_split
from ingest.hj212.session import PartLimit
from tests.ingest.hj212_support import dead_letters, new_mn, park_yaml, readings
from tests.support import wait_for

NOW = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)


def part(mn: str, pno: int, cp: str, pnum: int = 3, qn: str = "20260301080000000") -> bytes:
    head = f"QN={qn};ST=32;CN=2011;PW=123456;MN={mn};Flag=7;PNUM={pnum};PNO={pno}"
    return hj212.wrap(f"{head};CP=&&{cp}&&")


def parts(mn: str) -> list[bytes]:
    return [
        part(mn, 1, "DataTime=20260301080000;w01018-Rtd=40,w01018-Flag=N"),
        part(mn, 2, "w21003-Rtd=2.5,w21003-Flag=N"),
        part(mn, 3, "w00000-Rtd=36.91"),
    ]


def splits(per_logger: int = 100, total: int = 1000, max_age: float = 120.0) -> hj212_split.SplitPackets:
    return hj212_split.SplitPackets(PartLimit(per_logger, total), max_age=max_age)


def test_parts_without_a_data_time_are_held_until_the_set_is_whole():
    split = splits()
    topic = "outfall/hj212/MN0001"
    one, two, three = parts("MN0001")
    assert split.offer(topic, three, (1, 1, 0), 0.0) == []  # held, not acknowledged
    assert split.offer(topic, one, (2, 1, 0), 0.1) == [hj212_split.Whole(topic, one, ((2, 1, 0),))]  # alone
    assert len(split) == 1
    (whole,) = split.offer(topic, two, (3, 1, 0), 0.2)
    assert whole.acks == ((1, 1, 0), (3, 1, 0)) and whole.payload == one + two + three and len(split) == 0
    plain = hj212.wrap("ST=32;CN=2011;PW=1;MN=MN0001;CP=&&DataTime=20260301080000;w01018-Rtd=1&&")
    assert split.offer(topic, plain, (4, 1, 0), 0.3) == [hj212_split.Whole(topic, plain, ((4, 1, 0),))]


def test_an_incomplete_set_is_given_up_after_max_age():
    split = splits(max_age=10)
    topic = "outfall/hj212/MN0001"
    split.offer(topic, parts("MN0001")[1], (7, 1, 0), 0.0)
    assert split.expired(5.0) == []
    (gone,) = split.expired(11.0)
    assert (
        gone.acks == ((7, 1, 0),)
        and gone.reason == "split packet incomplete after 10 s: parts 2 of 3 arrived"
    )
    assert len(split) == 0 and split.limit.held_total == 0


def test_parts_over_the_cap_are_not_held_but_refused_with_one_reason_per_logger():
    split = splits(per_logger=2, total=3)
    a, b = "outfall/hj212/MNA001", "outfall/hj212/MNB001"
    held = [split.offer(a, part("MNA001", 2, "w21003-Rtd=1", qn=f"{n:017d}"), (n, 1, 0), 0.0) for n in (1, 2)]
    assert held == [[], []] and split.limit.held_total == 2
    over = [
        split.offer(a, part("MNA001", 2, "w21003-Rtd=1", qn=f"{n:017d}"), (n, 1, 0), 1.0)
        for n in range(3, 23)
    ]
    assert all(isinstance(o[0], hj212_split.Refused) for o in over) and len(split) == 2
    assert len({o[0].reason for o in over}) == 1  # one kind: the flood joins one dead letter
    assert over[0][0].reason.startswith("split-packet part not held: MN MNA001 is at the cap of 2 parts")
    # a part that carries its own DataTime is still stored, just not kept for the merge
    alone = part("MNA001", 1, "DataTime=20260301080000;w01018-Rtd=1", qn="9" * 17)
    assert split.offer(a, alone, (99, 1, 0), 1.0) == [hj212_split.Whole(a, alone, ((99, 1, 0),))]
    assert split.offer(b, part("MNB001", 2, "w21003-Rtd=1"), (50, 1, 0), 1.0) == []  # another logger: room
    assert split.limit.held_total == 3
    split.expired(200.0)  # the sets given up give their room back
    assert split.limit.held_total == 0 and split.limit.held == {}


def test_a_joined_payload_that_is_not_one_set_is_rejected():
    a, b = part("MN0001", 1, "DataTime=20260301080000;w01018-Rtd=1", pnum=2), parts("MN0002")[1]
    pw = hj212_records.PwRule(Verifier({}))
    result = hj212_split.decode("outfall/hj212/MN0001", a + b, {}, NOW, pw=pw)
    assert isinstance(result, Rejected) and "not the parts of one split packet" in result.reason


def test_split_packets_over_mqtt_are_stored_whole(db, make_park, start_worker, publisher):
    workshop, total = new_mn(), new_mn()
    park = make_park(park_yaml(workshop, total))
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+")
    one, two, three = parts(total)
    for payload in (three, one, two, one):  # out of order, and part 1 sent twice
        publisher.publish(f"outfall/hj212/{total}", payload)
    publisher.flush()
    wait_for(lambda: running.worker.counters.messages >= 4, message="4 messages committed")
    rows = readings(db, park.id)
    assert [(r[1], r[3]) for r in rows] == [("cod", 40.0), ("flow", 36.91), ("nh3_n", 2.5)]
    assert {r[2] for r in rows} == {datetime(2026, 3, 1, 0, 0, tzinfo=UTC)}
    assert dead_letters(db, f"outfall/hj212/{total}") == []
    assert running.worker.held_messages() == 0  # every part acknowledged after the commit


def test_an_incomplete_set_over_mqtt_is_given_up_even_if_nothing_else_arrives(
    db, make_park, start_worker, publisher
):
    workshop, total = new_mn(), new_mn()
    park = make_park(park_yaml(workshop, total))
    running = start_worker(topic=f"outfall/v1/{park.id}/+/+", split_max_age_s=0.5)
    one, two, _three = parts(total)
    publisher.publish(f"outfall/hj212/{total}", one)
    publisher.publish(f"outfall/hj212/{total}", two)
    publisher.flush()
    # no further HJ 212 message: the network loop itself must give the set up
    wait_for(lambda: dead_letters(db, f"outfall/hj212/{total}"), message="incomplete set dead-lettered")
    assert "split packet incomplete" in dead_letters(db, f"outfall/hj212/{total}")[0][3]
    wait_for(lambda: running.worker.held_messages() == 0, message="held parts acknowledged")
