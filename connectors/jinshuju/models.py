"""Raw Jinshuju API v1 payloads, holding only the fields the connector reads.

An entry is kept as a plain dict: its keys are the form's own field codes (``field_3``, or
an alias such as ``field_name``), so no model could name them; ``connector.to_form_entry``
checks and maps it. Shapes: ``jinshuju/open-doc`` ``docs/api_v1/endpoints/``
(``get_form_entries``: ``{total, count, data, next}``; ``get_form_entry``: ``{form,
form_name, entry}``; ``get_form``: ``{name, description, fields: [{"field_1": {label, type,
...}}], setting}``).

The v1 doc does not show how a choice field lists its options. The legacy v4 form
definition does, as ``choices: [{"name": <label>, "value": <option api code>}]``
(``jinshuju/jinshuju-api-docs`` ``jinshuju-net-api.md``); that shape is assumed here, and
``api_code``/``label`` are accepted as synonyms.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Raw(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class JinshujuEntryPage(_Raw):
    """One page of ``GET /api/v1/forms/:token/entries``."""

    total: int = 0
    count: int = 0
    data: list[dict[str, Any]] = Field(default_factory=list)
    next: str | None = None  # the serial number to resume from; documented as String, sent as a number

    @field_validator("next", mode="before")
    @classmethod
    def _cursor_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value if value != "" else None


class JinshujuEntryEnvelope(_Raw):
    """``GET /api/v1/forms/:token/entries/:serial`` (and a push body): the entry with its form."""

    form: str
    form_name: str = ""
    entry: dict[str, Any]


class JinshujuChoice(_Raw):
    """One option of a choice field: its API code and its label."""

    code: str = Field(validation_alias="value")
    label: str = Field("", validation_alias="name")

    @model_validator(mode="before")
    @classmethod
    def _synonyms(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "value" not in data and "api_code" in data:
                data["value"] = data["api_code"]
            if "name" not in data and "label" in data:
                data["name"] = data["label"]
        return data


class JinshujuField(_Raw):
    """One field of a form definition (the value under its code)."""

    label: str = ""
    type: str = ""
    choices: list[JinshujuChoice] = Field(default_factory=list)


class JinshujuForm(_Raw):
    """``GET /api/v1/forms/:token``: the title and the fields, in form order."""

    name: str = ""
    description: str = ""
    fields: list[dict[str, JinshujuField]] = Field(default_factory=list)

    def field_labels(self) -> dict[str, str]:
        """Field code → label, in form order."""
        return {code: spec.label for item in self.fields for code, spec in item.items()}

    def choice_labels(self) -> dict[str, dict[str, str]]:
        """Field code → {option code → label}, for the choice fields only."""
        return {code: {c.code: c.label for c in spec.choices}
                for item in self.fields for code, spec in item.items() if spec.choices}


__all__ = ["JinshujuChoice", "JinshujuEntryEnvelope", "JinshujuEntryPage", "JinshujuField", "JinshujuForm"]
