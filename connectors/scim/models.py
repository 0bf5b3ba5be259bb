"""Raw SCIM 2.0 wire resources (RFC 7643) and messages (RFC 7644), as lenient pydantic models.

Only what the connector reads is modelled; everything else a provider sends is ignored.
Attribute names are case-insensitive in SCIM (RFC 7643 §2.1): ``username``, ``UserName``
and ``userName`` are the same attribute, and providers differ, so every model matches
the keys it receives to its aliases case-insensitively (``_ScimModel``).

Why not ``scim2-models``: it validates each resource against the full schema, with
``schemas`` required and strict types, while real providers send partial or slightly
off documents (a missing ``schemas``, ``"resources"`` in lower case, ``status`` as a number).
A sync must read those rather than fail, and these few models are all it needs; the test
suite still uses ``scim2-server`` (and through it ``scim2-models``) as the real peer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class _ScimModel(BaseModel):
    # ids arrive as numbers from some providers: read them as the strings SCIM says they are
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _fold_keys(cls, data: Any) -> Any:
        """Rename keys that match a field's alias or name in another case."""
        if not isinstance(data, dict):
            return data
        names: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            names[name.casefold()] = field.alias or name
            if field.alias:
                names[field.alias.casefold()] = field.alias
        out: dict[str, Any] = {}
        for key, value in data.items():
            target = names.get(key.casefold(), key) if isinstance(key, str) else key
            out.setdefault(target, value)
        return out


class ScimName(_ScimModel):
    """``name`` of a User: the formatted full name and its parts."""

    formatted: str | None = None
    family_name: str | None = Field(None, alias="familyName")
    given_name: str | None = Field(None, alias="givenName")


class ScimMultiValue(_ScimModel):
    """One value of a multi-valued attribute (``emails``, ``phoneNumbers``)."""

    value: str | None = None
    type: str | None = None
    primary: bool = False


class ScimMeta(_ScimModel):
    """``meta``: resource type, location and version (ETag)."""

    resource_type: str | None = Field(None, alias="resourceType")
    location: str | None = None
    version: str | None = None


class ScimUser(_ScimModel):
    """A ``urn:ietf:params:scim:schemas:core:2.0:User`` resource."""

    id: str
    user_name: str = Field(alias="userName")
    external_id: str | None = Field(None, alias="externalId")
    display_name: str | None = Field(None, alias="displayName")
    name: ScimName | None = None
    emails: list[ScimMultiValue] = Field(default_factory=list)
    phone_numbers: list[ScimMultiValue] = Field(default_factory=list, alias="phoneNumbers")
    active: bool = True  # RFC 7643 §4.1.1: absent means the provider has no such notion; treat as active
    meta: ScimMeta | None = None

    def full_name(self) -> str:
        """``displayName``, else ``name.formatted``, else given and family name, else ""."""
        if self.display_name:
            return self.display_name
        if self.name is None:
            return ""
        if self.name.formatted:
            return self.name.formatted
        return " ".join(p for p in (self.name.given_name, self.name.family_name) if p)

    def email(self) -> str | None:
        """The primary email, else the first one."""
        return _pick(self.emails, lambda v: v.primary)

    def mobile(self) -> str | None:
        """The ``mobile`` phone number, else the primary one, else the first one."""
        return _pick(self.phone_numbers, lambda v: (v.type or "").casefold() == "mobile", lambda v: v.primary)


class ScimMember(_ScimModel):
    """One entry of a Group's ``members``: the member's id, and whether it is a User or a Group."""

    value: str = ""  # empty when a provider sends only ``$ref``: such an entry is skipped
    type: str | None = None
    display: str | None = None
    ref: str | None = Field(None, alias="$ref")

    def is_group(self) -> bool:
        """A nested group (``type: "Group"`` or a ``$ref`` to ``/Groups/``)."""
        if self.type:
            return self.type.casefold() == "group"
        return "/groups/" in (self.ref or "").casefold()


class ScimGroup(_ScimModel):
    """A ``urn:ietf:params:scim:schemas:core:2.0:Group`` resource.

    ``members`` is None when the provider left the attribute out, which an empty group
    and a provider that omits members from listings both do.
    """

    id: str
    display_name: str = Field("", alias="displayName")
    external_id: str | None = Field(None, alias="externalId")
    members: list[ScimMember] | None = None
    meta: ScimMeta | None = None


class ListResponse(_ScimModel):
    """A ``ListResponse`` page: ``totalResults``, 1-based ``startIndex``, and the page's ``Resources``."""

    total_results: int | None = Field(None, alias="totalResults")
    start_index: int | None = Field(None, alias="startIndex")
    items_per_page: int | None = Field(None, alias="itemsPerPage")
    resources: list[dict[str, Any]] = Field(default_factory=list, alias="Resources")


class ScimError(_ScimModel):
    """An ``Error`` message: ``status`` (a string on the wire), ``scimType`` and ``detail``."""

    status: int | None = None
    scim_type: str | None = Field(None, alias="scimType")
    detail: str | None = None


class Supported(_ScimModel):
    """A ``{supported: bool}`` feature of the ServiceProviderConfig."""

    supported: bool = False


class FilterSupport(Supported):
    """``filter``: whether filters work, and the most results a response holds."""

    max_results: int | None = Field(None, alias="maxResults")


class ServiceProviderConfig(_ScimModel):
    """What the provider announces at ``/ServiceProviderConfig`` (RFC 7643 §5)."""

    patch: Supported | None = None
    filter: FilterSupport | None = None
    etag: Supported | None = None


def _pick(values: list[ScimMultiValue], *prefer: Any) -> str | None:
    present = [v for v in values if v.value]
    for test in prefer:
        found = next((v for v in present if test(v)), None)
        if found is not None:
            return found.value
    return present[0].value if present else None


__all__ = [
    "ERROR_SCHEMA",
    "GROUP_SCHEMA",
    "LIST_SCHEMA",
    "PATCH_SCHEMA",
    "USER_SCHEMA",
    "FilterSupport",
    "ListResponse",
    "ScimError",
    "ScimGroup",
    "ScimMember",
    "ScimMeta",
    "ScimMultiValue",
    "ScimName",
    "ScimUser",
    "ServiceProviderConfig",
    "Supported",
]
