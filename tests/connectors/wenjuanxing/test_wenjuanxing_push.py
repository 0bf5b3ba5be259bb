"""``parse_push`` for Wenjuanxing: the official sample in, one-line reasons for anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_wenjuanxing_sign import SAMPLE

from connectors._errors import InvalidPayload
from connectors.wenjuanxing import parse_push


def test_the_sample_push_becomes_a_form_entry():
    entry = parse_push(SAMPLE)
    assert (entry.service, entry.form, entry.serial, entry.form_name) == ("wenjuanxing", "5657754", "101812480275",
                                                                        "问卷名称")
    assert entry.answers == {"q1": "1", "q2": "测试", "q3": "1,2"}
    assert entry.submitted_at == datetime(2016, 8, 23, 2, 1, 59, tzinfo=UTC)  # 10:01:59 Beijing
    assert entry.submitted_at.utcoffset() == timedelta(hours=8)
    assert entry.updated_at is None


def test_the_link_parameter_and_sub_questions_are_answers_metadata_is_not():
    entry = parse_push({**SAMPLE, "sojumpparm": "group-7", "q5_1": "3", "qq": "x", "index": "9", "extra": 1})
    assert entry.answers == {"q1": "1", "q2": "测试", "q3": "1,2", "sojumpparm": "group-7", "q5_1": "3"}


@pytest.mark.parametrize(("change", "serial"), [
    ({}, "101812480275"),
    ({"joinid": 101812480275}, "101812480275"),
    ({"joinid": None, "index": "12"}, "12"),
    ({"joinid": "", "index": 12}, "12"),
])
def test_the_serial_is_the_joinid_or_else_the_index(change, serial):
    assert parse_push({**SAMPLE, **change}).serial == serial


def drop(*keys):
    return {k: v for k, v in SAMPLE.items() if k not in keys}


@pytest.mark.parametrize(("payload", "reason"), [
    ([SAMPLE], "push body is a JSON array, not an object"),
    ("activity=1", "push body is a JSON string, not an object"),
    (drop("activity"), "push has no activity (the survey id)"),
    ({**SAMPLE, "activity": ["5657754"]}, "push activity is not an id: ['5657754']"),
    ({**SAMPLE, "activity": -1}, "push activity is not an id: -1"),
    (drop("joinid"), "push has no joinid (the answer id) nor index"),
    ({**SAMPLE, "joinid": {"id": 1}}, "push joinid is not an id"),
    ({**SAMPLE, "joinid": "1\n2"}, "push joinid is not an id: '1\\n2'"),
    ({**drop("joinid"), "index": 1.5}, "push index is not an id: 1.5"),
    ({**SAMPLE, "name": 3}, "push name is not a string: 3"),
    ({**SAMPLE, "submittime": "2016/08/23 10:01"}, "push submittime is not a 'YYYY-MM-DD hh:mm:ss' time"),
    ({**SAMPLE, "submittime": 1471917719}, "push submittime is not a 'YYYY-MM-DD hh:mm:ss' time: 1471917719"),
])
def test_malformed_pushes_are_refused_naming_the_field(payload, reason):
    with pytest.raises(InvalidPayload) as info:
        parse_push(payload)
    assert reason in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 160


def test_a_missing_submittime_or_name_is_tolerated():
    entry = parse_push(drop("submittime", "name"))
    assert entry.submitted_at is None and entry.form_name == ""


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["activity", "joinid", "index", "submittime", "name", "q1", "sojumpparm", "sign"])


@settings(max_examples=150, deadline=None)
@given(st.one_of(JSON, st.dictionaries(KEYS, JSON, max_size=7)))
def test_random_json_never_raises_anything_but_invalid_payload(payload):
    try:
        entry = parse_push(payload)
    except InvalidPayload as exc:
        assert "\n" not in str(exc)
    else:
        assert entry.form and entry.serial
