"""Normalising the identifiers people are matched by.

Volunteer signups arrive typed by hand on phones: "+86 138-1234-5678", "１３８１２３４５６７８"
(full-width digits from a Chinese IME), "0086 13812345678", stray spaces. Two accounts of
one person only match if both sides are reduced to one canonical form first:
``+86`` followed by the 11-digit mobile for mainland numbers, ``+<digits>`` for others.
"""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-()（）.·—_/]+")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def clean_text(value: str | None) -> str:
    """NFKC-normalise (full-width → ASCII), strip, collapse inner whitespace."""
    if value is None:
        return ""
    return " ".join(unicodedata.normalize("NFKC", str(value)).split())


def normalize_mobile(raw: str | None) -> str | None:
    """Canonical mobile (``+8613812345678``), None when empty.

    Raises:
        ValueError: the value is not a plausible phone number (the message says why).
    """
    text = clean_text(raw)
    if not text:
        return None
    digits = _SEPARATORS.sub("", text)
    plus = digits.startswith("+")
    digits = digits.lstrip("+")
    if not digits.isdigit():
        raise ValueError(f"mobile {raw!r} has characters other than digits")
    if digits.startswith("00"):
        digits, plus = digits[2:], True
    if digits.startswith("86") and _CN_MOBILE.match(digits[2:]):
        return "+" + digits
    if plus and 8 <= len(digits) <= 15:  # an explicit country code other than 86
        return "+" + digits
    if _CN_MOBILE.match(digits):
        return "+86" + digits
    raise ValueError(f"mobile {raw!r} is not a mainland mobile (11 digits from 13–19) or +country number")


def try_mobile(raw: str | None) -> str | None:
    """``normalize_mobile`` that gives None instead of raising."""
    try:
        return normalize_mobile(raw)
    except ValueError:
        return None


def normalize_email(raw: str | None) -> str | None:
    """Lower-cased, NFKC-normalised email; None when empty.

    Raises:
        ValueError: not an email address.
    """
    text = clean_text(raw).replace(" ", "").lower()
    if not text:
        return None
    if not _EMAIL.match(text):
        raise ValueError(f"email {raw!r} is not an email address")
    return text


def try_email(raw: str | None) -> str | None:
    """``normalize_email`` that gives None instead of raising."""
    try:
        return normalize_email(raw)
    except ValueError:
        return None


def local_mobile(mobile: str | None) -> str | None:
    """The form Chinese services store: 11 digits for +86 numbers, ``+..`` otherwise."""
    if not mobile:
        return None
    return mobile[3:] if mobile.startswith("+86") else mobile


def mask_mobile(mobile: str | None) -> str:
    """``138****5678`` for reports: first three and last four digits only."""
    local = local_mobile(mobile) or ""
    if len(local) < 8:
        return "*" * len(local)
    return f"{local[:3]}****{local[-4:]}"


def mask_email(email: str | None) -> str:
    """``z***@example.org``."""
    if not email or "@" not in email:
        return ""
    user, domain = email.split("@", 1)
    return f"{user[:1]}***@{domain}"


__all__ = [
    "clean_text",
    "local_mobile",
    "mask_email",
    "mask_mobile",
    "normalize_email",
    "normalize_mobile",
    "try_email",
    "try_mobile",
]
