"""Wenjuanxing's push signature: sha1(activity + index + secret), with index or joinid."""

from __future__ import annotations

import pytest

from connectors._errors import InvalidPayload
from connectors.wenjuanxing import sign, verify

SECRET = "wjx-secret"
# the official sample push (showdoc wjxopenapi 7664690808275512), signed with SECRET
SAMPLE = {"activity": "5657754", "name": "问卷名称", "timetaken": "528", "submittime": "2016-08-23 10:01:59",
          "q1": "1", "q2": "测试", "q3": "1,2", "joinid": "101812480275", "totalvalue": "15",
          "sign": "653bd848e10b1edc19aa3fb624e7ce8e99d0508f"}


@pytest.mark.parametrize(("activity", "index", "secret", "expected"), [
    ("5657754", "101812480275", "wjx-secret", "653bd848e10b1edc19aa3fb624e7ce8e99d0508f"),
    ("5657754", "7", "wjx-secret", "83de39463d9c7294a481bdc219a072d0f12c04a6"),
    ("5657754", "101812480275", "密钥", "6f2e776c6a9c7ebaa2d3dc8db6b70dbc1be3c6f5"),  # UTF-8 bytes
    ("", "", "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),  # sha1 of nothing
])
def test_sign_vectors(activity, index, secret, expected):
    assert sign(activity, index, secret) == expected


def test_the_sample_push_verifies_with_its_secret_only():
    assert verify(SAMPLE, SECRET) is True
    assert verify(SAMPLE, "another-secret") is False


def test_index_is_preferred_over_joinid_when_a_push_has_both():
    both = {**SAMPLE, "index": "7", "sign": "83de39463d9c7294a481bdc219a072d0f12c04a6"}
    assert verify(both, SECRET) is True
    assert verify({**both, "sign": SAMPLE["sign"]}, SECRET) is False  # signed over joinid: wrong here


@pytest.mark.parametrize("change", [
    {"sign": SAMPLE["sign"].upper()},  # hex case is not documented
    {"joinid": 101812480275},  # an id sent as a JSON number
    {"activity": 5657754},
    {"sign": " " + SAMPLE["sign"] + " "},
])
def test_equivalent_spellings_still_verify(change):
    assert verify({**SAMPLE, **change}, SECRET) is True


@pytest.mark.parametrize("change", [{"activity": "5657755"}, {"joinid": "101812480276"}, {"sign": "0" * 40},
                                    {"sign": "签名"}])
def test_tampered_ids_or_signs_fail(change):
    assert verify({**SAMPLE, **change}, SECRET) is False


def test_answers_are_not_covered_by_the_signature():
    # Wenjuanxing signs the ids only: a changed answer still verifies (documented limitation)
    assert verify({**SAMPLE, "q2": "改过"}, SECRET) is True


@pytest.mark.parametrize(("payload", "reason"), [
    ([SAMPLE], "not a JSON object"),
    ({k: v for k, v in SAMPLE.items() if k != "sign"}, "push has no sign"),
    ({**SAMPLE, "sign": ""}, "push has no sign"),
    ({**SAMPLE, "sign": 1}, "push has no sign"),
    ({k: v for k, v in SAMPLE.items() if k != "activity"}, "no activity"),
    ({k: v for k, v in SAMPLE.items() if k != "joinid"}, "no index or joinid"),
    ({**SAMPLE, "joinid": ["1"]}, "no index or joinid"),
])
def test_a_push_that_cannot_be_checked_is_invalid_not_false(payload, reason):
    with pytest.raises(InvalidPayload, match=reason):
        verify(payload, SECRET)
