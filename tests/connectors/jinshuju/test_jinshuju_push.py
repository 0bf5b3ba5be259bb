"""``parse_push``: real-shaped Jinshuju data pushes in, one-line reasons for anything else."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors._errors import InvalidPayload
from connectors.jinshuju import parse_push, to_form_entry

# reference §5.1's push with the published sample's choice values, an alias and an extended attribute
PUSH = {
    "form": "E2FBnj",
    "form_name": "志愿者报名表",
    "entry": {
        "token": "qLcs9ZVx",
        "serial_number": 123,
        "field_1": "张三",
        "field_name": "张三丰",  # a field the owner gave an alias
        "field_5": ["7oLf", "vQki"],
        "field_10": "1lq3",
        "x_field_1": "wechat-group-3",
        "creator_name": "",
        "updater_name": "",
        "created_at": "2020-02-03T04:05:06.789Z",
        "updated_at": "2020-02-04T00:00:00Z",
        "info_remote_ip": "114.88.1.2",
        "info_platform": "Macintosh",
        "info_os": "OS X 10.15",
        "info_browser": "Chrome 80",
        "info_filling_duration": 61,
        "info_region": {"province": "湖北省", "city": "武汉市"},
    },
}


def with_entry(**changes) -> dict:
    payload = copy.deepcopy(PUSH)
    for key, value in changes.items():
        if value is ...:
            del payload["entry"][key]
        else:
            payload["entry"][key] = value
    return payload


def test_a_real_shaped_push_becomes_a_form_entry():
    entry = parse_push(PUSH)
    assert entry.service == "jinshuju" and entry.form == "E2FBnj" and entry.form_name == "志愿者报名表"
    assert entry.serial == "123"
    assert entry.answers == {"field_1": "张三", "field_name": "张三丰", "field_5": ["7oLf", "vQki"],
                             "field_10": "1lq3", "x_field_1": "wechat-group-3"}
    assert entry.submitted_at == datetime(2020, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
    assert entry.updated_at == datetime(2020, 2, 4, tzinfo=UTC)


def test_a_listing_row_maps_like_a_push():
    row = {k: v for k, v in PUSH["entry"].items() if k != "token"}
    assert to_form_entry("E2FBnj", "志愿者报名表", row) == parse_push(PUSH)


@pytest.mark.parametrize(("serial", "expected"), [(1, "1"), ("42", "42"), (" 7 ", "7")])
def test_serial_numbers_come_as_numbers_or_digit_strings(serial, expected):
    assert parse_push(with_entry(serial_number=serial)).serial == expected


def test_times_with_an_offset_are_converted_to_utc_and_naive_ones_read_as_utc():
    entry = parse_push(with_entry(created_at="2020-02-03T12:05:06+08:00", updated_at="2020-02-03T04:05:06"))
    assert entry.submitted_at == datetime(2020, 2, 3, 4, 5, 6, tzinfo=UTC) == entry.updated_at


def test_missing_times_and_form_name_are_tolerated():
    payload = with_entry(created_at=..., updated_at=None)
    del payload["form_name"]
    entry = parse_push(payload)
    assert entry.submitted_at is None and entry.updated_at is None and entry.form_name == ""


@pytest.mark.parametrize(("payload", "reason"), [
    ([PUSH], "push body is a JSON array, not an object"),
    ("form=E2FBnj", "push body is a JSON string"),
    (None, "push body is a JSON null"),
    ({"form_name": "x", "entry": PUSH["entry"]}, "push has no form"),
    ({**PUSH, "form": ""}, "push has no form"),
    ({**PUSH, "form": 7}, "push form is not a form token: 7"),
    ({**PUSH, "form_name": ["x"]}, "push form_name is not a string"),
    ({"form": "E2FBnj"}, "push has no entry"),
    ({**PUSH, "entry": "serial_number=1"}, "entry is a JSON string, not an object"),
    ({**PUSH, "entry": None}, "entry is a JSON null, not an object"),
    (with_entry(serial_number=...), "entry.serial_number is missing"),
    (with_entry(serial_number=None), "entry.serial_number is missing"),
    (with_entry(serial_number="12a"), "entry.serial_number is not an integer: '12a'"),
    (with_entry(serial_number=1.5), "entry.serial_number is not an integer: 1.5"),
    (with_entry(serial_number=True), "entry.serial_number is not an integer: True"),
    (with_entry(serial_number=0), "entry.serial_number is out of range: 0"),
    (with_entry(serial_number=10**30), "entry.serial_number is out of range"),
    (with_entry(created_at="yesterday"), "entry.created_at is not an ISO-8601 time: 'yesterday'"),
    (with_entry(updated_at=1580702706), "entry.updated_at is not an ISO-8601 time: 1580702706"),
    (with_entry(created_at="2020-02-03T04:05:06\n"), None),  # surrounding whitespace is fine
])
def test_malformed_pushes_are_refused_naming_the_field(payload, reason):
    if reason is None:
        parse_push(payload)
        return
    with pytest.raises(InvalidPayload) as info:
        parse_push(payload)
    message = str(info.value)
    assert reason in message
    assert "\n" not in message and len(message) < 160


def test_a_reason_quoting_a_hostile_value_stays_on_one_short_line():
    with pytest.raises(InvalidPayload) as info:
        parse_push(with_entry(serial_number="1\n2" + "x" * 10_000))
    assert "\n" not in str(info.value) and len(str(info.value)) < 160


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
ENTRY_KEYS = st.sampled_from(["serial_number", "created_at", "updated_at", "field_1", "info_os", "token"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_random_json_never_raises_anything_but_invalid_payload(payload):
    try:
        parse_push(payload)
    except InvalidPayload as exc:
        assert "\n" not in str(exc)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(ENTRY_KEYS, JSON, max_size=6), st.one_of(st.just("E2FBnj"), JSON))
def test_random_entries_never_raise_anything_but_invalid_payload(entry, form):
    try:
        result = parse_push({"form": form, "form_name": "f", "entry": entry})
    except InvalidPayload as exc:
        assert "\n" not in str(exc)
    else:
        assert int(result.serial) >= 1 and "serial_number" not in result.answers
