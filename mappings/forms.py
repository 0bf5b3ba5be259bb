"""Signup forms → people: field mapping, normalisation and screening, as pure functions.

A form service delivers answers keyed by its own field codes (Jinshuju ``field_3``,
Wenjuanxing ``q3``, a spreadsheet's headers). The policy's ``forms.<name>`` section says
which code is which person attribute, translates choice option codes to their labels,
lists what is required, and screens: the first rule whose conditions match gives the
volunteer roles, a team and a tier; no match means a coordinator reviews the signup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mappings.models import FormEntry
from mappings.normalize import clean_text, normalize_email, normalize_mobile

PERSON_FIELDS = ("name", "mobile", "email")
YES = {"yes", "y", "true", "1", "是", "同意", "愿意", "可以", "好"}
NO = {"no", "n", "false", "0", "否", "不同意", "不愿意", "不"}
_TARGET = re.compile(r"^(name|mobile|email|consent\.[a-z]+|[a-z][a-z0-9_]{0,30})$")


class Screen(BaseModel):
    """``when`` the answers say so, give these roles, team and tier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    when: dict[str, list[str]] = Field(default_factory=dict)
    roles: list[str] = Field(default_factory=list)
    team: str | None = None
    tier: str | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return {k: [v] if isinstance(v, str) else v for k, v in value.items()} if isinstance(value, dict) else value


class FormSpec(BaseModel):
    """The policy's ``forms.<name>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: dict[str, str]  # answer code → person attribute
    choices: dict[str, dict[str, str]] = Field(default_factory=dict)  # code → option code → label
    required: list[str] = Field(default_factory=lambda: ["name", "mobile"])
    screening: list[Screen] = Field(default_factory=list)

    @field_validator("choices", mode="before")
    @classmethod
    def _option_codes_as_text(cls, value: Any) -> Any:
        # YAML reads `1: 医生` with an int key; option codes are text whatever they look like
        if isinstance(value, dict):
            return {str(k): {str(c): str(v) for c, v in opts.items()} if isinstance(opts, dict) else opts
                    for k, opts in value.items()}
        return value

    @field_validator("fields", mode="before")
    @classmethod
    def _codes_as_text(cls, value: Any) -> Any:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("fields")
    @classmethod
    def _targets(cls, value: dict[str, str]) -> dict[str, str]:
        for code, target in value.items():
            if not _TARGET.match(target):
                raise ValueError(f"{code}: {target!r} is not a person attribute (name, mobile, email, "
                                 "consent.<service> or a lower-case word)")
        return value


@dataclass
class Signup:
    """What one form entry says about a person, normalised; ``errors`` say what is unusable."""

    name: str = ""
    mobile: str | None = None
    email: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def read_entry(entry: FormEntry, spec: FormSpec) -> Signup:
    """Map, translate and normalise one entry's answers; collect every problem with its field code."""
    out = Signup()
    codes = {target: code for code, target in spec.fields.items()}
    for code, target in spec.fields.items():
        text = answer_text(entry.answers.get(code), spec.choices.get(code, {}))
        if not text:
            continue
        if target == "name":
            out.name = text
        elif target in ("mobile", "email"):
            try:
                value = normalize_mobile(text) if target == "mobile" else normalize_email(text)
            except ValueError as exc:
                out.errors.append(f"{code} ({target}): {exc}")
                continue
            setattr(out, target, value)
        elif target.startswith("consent."):
            out.attributes[target] = consent(text)
        else:
            out.attributes[target] = text
    for target in spec.required:
        present = getattr(out, target, None) if target in PERSON_FIELDS else out.attributes.get(target)
        if not present and not any(target in e for e in out.errors):
            out.errors.append(f"{codes.get(target, target)} ({target}): required but empty")
    return out


def answer_text(value: Any, options: dict[str, str]) -> str:
    """One answer as clean text: option codes become labels, lists are joined with 、."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "、".join(t for t in (answer_text(v, options) for v in value) if t)
    if isinstance(value, dict):  # e.g. Jinshuju address or name fields
        return " ".join(t for t in (answer_text(v, options) for v in value.values()) if t)
    text = clean_text(str(value))
    return options.get(text, text)


def consent(text: str) -> str:
    """``yes``, ``no`` or ``unknown`` from how people answer a consent question."""
    low = text.strip().lower()
    if low in YES or low.startswith(("是", "同意")):
        return "yes"
    if low in NO or low.startswith(("否", "不")):
        return "no"
    return "unknown"


def screen(attributes: dict[str, str], rules: list[Screen]) -> Screen | None:
    """The first screening rule every condition of which the answers meet, else None (review)."""
    for rule in rules:
        if all(_meets(attributes.get(k, ""), v) for k, v in rule.when.items()):
            return rule
    return None


def _meets(answer: str, allowed: list[str]) -> bool:
    parts = {p for p in re.split(r"[、,，;；/]", answer) if p} | {answer}
    return bool(parts & set(allowed))


def consented(attributes: dict[str, str], service: str) -> bool:
    """Whether a person may be pushed to ``service``: not when a form recorded anything but yes."""
    value = attributes.get(f"consent.{service}")
    return value is None or value == "yes"


__all__ = ["FormSpec", "Screen", "Signup", "answer_text", "consent", "consented", "read_entry", "screen"]
