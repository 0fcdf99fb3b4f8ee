-- HJ 212 equipment status (CN 2021) as the data logger reports it: treatment-facility state
-- `SBxxx-RS` (0 off, 1 running, 2 calibrating, 3 maintenance, 4 alarm, 5 back-flush) and instrument
-- status codes such as `w01018-i12001` (work status), `i12002` (communication), `i12003` (alarm)
-- (HJ 212-2017 Tables 4 and 8). `device` is the facility or factor code as sent (2005 factor codes in their
-- 2017 form), '' for a status item without one; `item` is the field (RS, i12001, ...). `time` is
-- DataTime (the acquisition instant), UTC. The key makes retransmissions and back-filled copies count once.
CREATE TABLE equipment_status (
    point_id     integer NOT NULL,
    device       text NOT NULL,
    item         text NOT NULL,
    time         timestamptz NOT NULL,
    value        text NOT NULL,            -- as sent: status codes are codes, not measurements
    number       double precision,         -- the value when it is a number (RS codes, i13xxx figures)
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL,
    PRIMARY KEY (point_id, device, item, time)
);
SELECT create_hypertable('equipment_status', 'time', chunk_time_interval => interval '30 days');
