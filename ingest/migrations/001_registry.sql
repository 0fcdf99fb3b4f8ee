-- Park registry and parameter catalogue. The park YAML file is the primary source; `outfall park load`
-- upserts it here.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE parameters (
    id          smallint PRIMARY KEY,
    code        text NOT NULL UNIQUE,           -- canonical code, e.g. 'cod', 'cr6'
    name_zh     text NOT NULL,
    name_en     text NOT NULL,
    hj212_2017  text UNIQUE,                    -- e.g. 'w01018'
    hj212_2005  text UNIQUE,                    -- e.g. '011'
    unit        text NOT NULL,                  -- unit readings are stored in
    plausible_min double precision NOT NULL,
    plausible_max double precision NOT NULL
);

CREATE TABLE parks (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'Asia/Shanghai',
    industry    text NOT NULL CHECK (industry IN ('electroplating', 'dyeing', 'mixed')),
    config      jsonb NOT NULL DEFAULT '{}',    -- park-wide settings (standard, reuse target, ...)
    loaded_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE plants (
    park_id     text NOT NULL REFERENCES parks ON DELETE CASCADE,
    id          text NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL DEFAULT 'enterprise' CHECK (kind IN ('enterprise', 'central_plant')),
    PRIMARY KEY (park_id, id)
);

CREATE TABLE points (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    park_id     text NOT NULL,
    plant_id    text NOT NULL,
    code        text NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('workshop_outlet', 'total_outlet', 'central_inlet',
                                             'central_outlet', 'reuse_outlet', 'intake')),
    discharge_mode text NOT NULL CHECK (discharge_mode IN ('direct', 'indirect')),
    standard    text,
    mn          text UNIQUE,                    -- HJ 212 device id of the point's data logger
    interval_s  integer NOT NULL CHECK (interval_s > 0),   -- expected reporting interval
    active      boolean NOT NULL DEFAULT true,
    UNIQUE (park_id, plant_id, code),
    FOREIGN KEY (park_id, plant_id) REFERENCES plants ON DELETE CASCADE
);

-- Which parameters a point measures, and the unit its instrument reports them in.
CREATE TABLE point_parameters (
    point_id    integer NOT NULL REFERENCES points ON DELETE CASCADE,
    parameter_id smallint NOT NULL REFERENCES parameters,
    unit        text NOT NULL,
    PRIMARY KEY (point_id, parameter_id)
);
