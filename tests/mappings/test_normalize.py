import pytest

from mappings.normalize import mask_email, mask_mobile, normalize_email, normalize_mobile, try_mobile


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("0086 13812345678", "+8613812345678"),
        ("8613812345678", "+8613812345678"),
        ("１３８１２３４５６７８", "+8613812345678"),  # full-width digits from a Chinese IME
        (" 138 1234 5678 ", "+8613812345678"),
        ("(+86)138.1234.5678", "+8613812345678"),
        ("+1 415 555 0100", "+14155550100"),
        ("", None),
        (None, None),
    ],
)
def test_normalize_mobile(raw, expected):
    assert normalize_mobile(raw) == expected


@pytest.mark.parametrize("raw", ["12345", "1381234567x", "02112345678", "abc"])
def test_normalize_mobile_rejects_non_mobiles(raw):
    with pytest.raises(ValueError, match="mobile"):
        normalize_mobile(raw)
    assert try_mobile(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Zhang.San@Example.ORG ", "zhang.san@example.org"), ("ｌｉ＠ｅｘａｍｐｌｅ．ｃｎ", "li@example.cn"), ("", None)],
)
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected


def test_normalize_email_rejects_garbage():
    with pytest.raises(ValueError, match="not an email"):
        normalize_email("zhang at example")


@pytest.mark.parametrize(
    ("mobile", "masked"), [("+8613812345678", "138****5678"), ("+14155550100", "+14****0100"), (None, "")]
)
def test_mask_mobile(mobile, masked):
    assert mask_mobile(mobile) == masked


def test_mask_email():
    assert mask_email("zhang@example.org") == "z***@example.org"
