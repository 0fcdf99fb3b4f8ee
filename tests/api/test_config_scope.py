"""What each token sees of a park's config (api.auth.visible_config): pure, no services."""

from __future__ import annotations

from api.auth import Principal, visible_config

CONFIG = {
    "reuse_target": 0.5,
    "detection_limits": {"cod": 4, "hmac_key": "x"},
    "webhook_secret": "do-not-show",
    "permits": [
        {"plant": "shop-01", "parameter": "cod", "upper": 70},
        {"plant": "shop-02", "parameter": "cod", "upper": 60},
        {"plant": "*", "parameter": "ph", "upper": 9},
        {"parameter": "nh3_n", "upper": 8},
    ],
    "maintenance": [{"plant": "shop-02", "from": "2026-01-01", "to": "2026-01-02"}],
    "subscriptions": [
        {
            "name": "ding",
            "webhook": "https://oapi.dingtalk.com/robot/send?access_token=TOK&sign=SIG",
            "secret": "S",
        },
        {"name": "mail", "email": "officer@example.org", "plant": "shop-02"},
    ],
}
ADMIN = Principal(1, "a", "admin")
OFFICER = Principal(2, "o", "officer", "park")
PARK_OPERATOR = Principal(3, "p", "operator", "park")
PLANT_OPERATOR = Principal(4, "q", "operator", "park", "shop-01")


def test_a_plant_operator_sees_its_plant_and_the_park_wide_entries_only() -> None:
    seen = visible_config(CONFIG, PLANT_OPERATOR)
    assert [p["parameter"] for p in seen["permits"]] == ["cod", "ph", "nh3_n"]
    assert seen["permits"][0]["upper"] == 70
    assert seen["maintenance"] == []
    assert "subscriptions" not in seen and "webhook_secret" not in seen
    assert seen["detection_limits"] == {"cod": 4} and seen["reuse_target"] == 0.5


def test_officers_and_park_operators_see_the_park_but_no_receivers() -> None:
    for caller in (OFFICER, PARK_OPERATOR):
        seen = visible_config(CONFIG, caller)
        assert len(seen["permits"]) == 4 and len(seen["maintenance"]) == 1
        assert "subscriptions" not in seen and "webhook_secret" not in seen


def test_admins_see_receivers_without_their_credentials() -> None:
    seen = visible_config(CONFIG, ADMIN)
    ding, mail = seen["subscriptions"]
    assert ding == {
        "name": "ding",
        "webhook": "https://oapi.dingtalk.com/robot/send?access_token=***&sign=***",
    }
    assert mail["email"] == "officer@example.org"
    assert "TOK" not in repr(seen) and "SIG" not in repr(seen) and "do-not-show" not in repr(seen)
