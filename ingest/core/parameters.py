"""The parameter catalogue: canonical codes, HJ 212 codes, units and plausible ranges.

Codes and default units follow HJ 212-2017 Table B.1 (quoting HJ 525-2009). ``unit`` is the unit readings
are stored in (the unit the discharge standards print their limits in); ``hj212_unit`` is the HJ 212
default instrument unit, which is what a point reports in unless its park file says otherwise.
Parameters without an HJ 212 code (Table B.1 is extensible) carry ``None`` there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Parameter:
    id: int
    code: str
    name_zh: str
    name_en: str
    hj212_2017: str | None
    hj212_2005: str | None
    unit: str
    hj212_unit: str
    plausible_min: float
    plausible_max: float


def _p(
    id_: int,
    code: str,
    zh: str,
    en: str,
    c17: str | None,
    c05: str | None,
    unit: str,
    hj_unit: str,
    lo: float,
    hi: float,
) -> Parameter:
    return Parameter(id_, code, zh, en, c17, c05, unit, hj_unit, lo, hi)


# Plausible ranges are physical/instrument bounds, not limits: a value outside them is a broken monitor
# (pH 0.00 reported as N, a negative concentration), never a breach.
CATALOGUE: tuple[Parameter, ...] = (
    _p(1, "flow", "污水流量", "wastewater flow", "w00000", "B01", "L/s", "L/s", 0, 100_000),
    _p(2, "ph", "pH值", "pH", "w01001", "001", "pH", "pH", 1.0, 13.5),
    _p(3, "colour", "色度", "colour (dilution multiple)", "w01002", "002", "times", "times", 0, 10_000),
    _p(4, "do", "溶解氧", "dissolved oxygen", "w01009", None, "mg/L", "mg/L", 0, 25),
    _p(5, "temp", "水温", "water temperature", "w01010", None, "°C", "°C", -5, 100),
    _p(6, "ss", "悬浮物", "suspended solids", "w01012", "003", "mg/L", "mg/L", 0, 20_000),
    _p(7, "conductivity", "电导率", "conductivity", "w01014", None, "µS/cm", "µS/cm", 0, 300_000),
    _p(8, "bod5", "五日生化需氧量", "BOD5", "w01017", "010", "mg/L", "mg/L", 0, 20_000),
    _p(9, "cod", "化学需氧量", "COD(Cr)", "w01018", "011", "mg/L", "mg/L", 0, 50_000),
    _p(10, "toc", "总有机碳", "TOC", "w01020", "015", "mg/L", "mg/L", 0, 20_000),
    _p(11, "las", "阴离子表面活性剂", "anionic surfactants", "w19002", "520", "mg/L", "mg/L", 0, 1_000),
    _p(12, "hg", "总汞", "total mercury", "w20111", "020", "mg/L", "µg/L", 0, 10),
    _p(13, "cd", "总镉", "total cadmium", "w20115", "022", "mg/L", "µg/L", 0, 100),
    _p(14, "cr_total", "总铬", "total chromium", "w20116", "023", "mg/L", "mg/L", 0, 1_000),
    _p(15, "cr6", "六价铬", "hexavalent chromium", "w20117", "024", "mg/L", "µg/L", 0, 500),
    _p(16, "as", "总砷", "total arsenic", "w20119", "026", "mg/L", "µg/L", 0, 100),
    _p(17, "pb", "总铅", "total lead", "w20120", "027", "mg/L", "µg/L", 0, 500),
    _p(18, "ni", "总镍", "total nickel", "w20121", "028", "mg/L", "mg/L", 0, 1_000),
    _p(19, "cu", "总铜", "total copper", "w20122", "029", "mg/L", "mg/L", 0, 1_000),
    _p(20, "zn", "总锌", "total zinc", "w20123", "030", "mg/L", "mg/L", 0, 1_000),
    _p(21, "mn", "总锰", "total manganese", "w20124", "031", "mg/L", "mg/L", 0, 1_000),
    _p(22, "fe", "总铁", "total iron", "w20125", "032", "mg/L", "mg/L", 0, 5_000),
    _p(23, "ag", "总银", "total silver", "w20126", "033", "mg/L", "mg/L", 0, 500),
    _p(24, "tl", "铊", "thallium", "w20089", "041", "mg/L", "ng/L", 0, 10),
    _p(25, "co", "钴", "cobalt", "w20038", "040", "mg/L", "mg/L", 0, 1_000),
    _p(26, "tn", "总氮", "total nitrogen", "w21001", "065", "mg/L", "mg/L", 0, 5_000),
    _p(27, "nh3_n", "氨氮", "ammonia nitrogen", "w21003", "060", "mg/L", "mg/L", 0, 5_000),
    _p(28, "tp", "总磷", "total phosphorus", "w21011", "101", "mg/L", "mg/L", 0, 1_000),
    _p(29, "cn_total", "总氰化物", "total cyanide", "w21016", "070", "mg/L", "mg/L", 0, 500),
    _p(30, "fluoride", "氟化物", "fluoride", "w21017", "072", "mg/L", "mg/L", 0, 5_000),
    _p(31, "sulfide", "硫化物", "sulfide", "w21019", "071", "mg/L", "mg/L", 0, 1_000),
    _p(32, "chloride", "氯化物", "chloride", "w21022", "090", "mg/L", "mg/L", 0, 100_000),
    _p(33, "oil", "石油类", "petroleum oils", "w22001", "080", "mg/L", "mg/L", 0, 5_000),
    _p(34, "phenol", "挥发酚", "volatile phenol", "w23002", "110", "mg/L", "mg/L", 0, 1_000),
    # No HJ 212 code in Table B.1 (HJ 212-2017 Table B.1): platform codes only.
    _p(35, "al", "总铝", "total aluminium", None, None, "mg/L", "mg/L", 0, 5_000),
    _p(36, "sb", "总锑", "total antimony", None, None, "mg/L", "mg/L", 0, 100),
    _p(37, "aniline", "苯胺类", "aniline compounds", None, None, "mg/L", "mg/L", 0, 1_000),
    _p(38, "aox", "可吸附有机卤素", "AOX", None, None, "mg/L", "mg/L", 0, 1_000),
    _p(39, "clo2", "二氧化氯", "chlorine dioxide", None, None, "mg/L", "mg/L", 0, 1_000),
    # HJ 212-2025 ST 44, electricity use of production (d2xxxx) and treatment (d3xxxx) facilities, and
    # ST 45, key production operating conditions (p99xxx). The families are from the standard's
    # catalogue pages; the numbers inside each family are ours until its table can be read (README).
    _p(
        40,
        "elec_prod_energy",
        "生产设施用电量",
        "production electricity use",
        "d20001",
        None,
        "kWh",
        "kWh",
        0,
        1e9,
    ),
    _p(
        41,
        "elec_prod_power",
        "生产设施有功功率",
        "production active power",
        "d20002",
        None,
        "kW",
        "kW",
        0,
        1e6,
    ),
    _p(42, "elec_prod_current", "生产设施电流", "production current", "d20003", None, "A", "A", 0, 1e5),
    _p(
        43,
        "elec_treat_energy",
        "治理设施用电量",
        "treatment electricity use",
        "d30001",
        None,
        "kWh",
        "kWh",
        0,
        1e9,
    ),
    _p(
        44,
        "elec_treat_power",
        "治理设施有功功率",
        "treatment active power",
        "d30002",
        None,
        "kW",
        "kW",
        0,
        1e6,
    ),
    _p(45, "elec_treat_current", "治理设施电流", "treatment current", "d30003", None, "A", "A", 0, 1e5),
    _p(
        46,
        "prod_state",
        "生产设施运行状态",
        "production running state",
        "p99001",
        None,
        "state",
        "state",
        0,
        1,
    ),
    _p(47, "prod_load", "生产负荷", "production load", "p99002", None, "%", "%", 0, 200),
)

# HJ 212-2025 system codes and the factor families they carry (ST 44: electricity, ST 45: conditions).
ST_FAMILIES = {"44": ("d2", "d3"), "45": ("p99",)}

BY_CODE: dict[str, Parameter] = {p.code: p for p in CATALOGUE}
# Canonical codes and HJ 212-2017 codes are both accepted on the wire (DESIGN.md, MQTT JSON v1).
BY_ALIAS: dict[str, Parameter] = {**BY_CODE, **{p.hj212_2017: p for p in CATALOGUE if p.hj212_2017}}
BY_2005: dict[str, Parameter] = {p.hj212_2005: p for p in CATALOGUE if p.hj212_2005}
BY_ID: dict[int, Parameter] = {p.id: p for p in CATALOGUE}
