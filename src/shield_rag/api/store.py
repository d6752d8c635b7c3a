"""``POST /vectors``: store short texts now, each embedded as one chunk."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shield_rag.api.fields import (
    NOT_BLANK,
    STRICT,
    MetadataKey,
    MetadataValue,
    Source,
    check_metadata,
)


class VectorItem(BaseModel):
    model_config = STRICT
    text: Annotated[str, StringConstraints(min_length=1, max_length=100_000)] = Field(
        json_schema_extra=NOT_BLANK
    )
    source: Source | None = Field(
        None, description="Stable name; storing it again replaces the entry"
    )
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict)

    _meta = field_validator("metadata")(classmethod(lambda cls, v: check_metadata(v)))


class StoreRequest(BaseModel):
    # Exactly one of text and items: neither is nullable (a null is refused, as the schema
    # says), and absent they are None (pydantic does not validate defaults).
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"oneOf": [{"required": ["text"]}, {"required": ["items"]}]},
    )
    items: list[VectorItem] = Field(None)  # type: ignore[arg-type]
    text: str = Field(  # type: ignore[assignment]
        None, min_length=1, max_length=100_000, json_schema_extra=NOT_BLANK
    )
    source: Source | None = Field(
        None, description="Stable name; storing it again replaces the entry"
    )
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict)

    _meta = field_validator("metadata")(classmethod(lambda cls, v: check_metadata(v)))

    @model_validator(mode="after")
    def _one_form(self) -> StoreRequest:
        if self.items is None and self.text is None:
            raise ValueError("send 'text' (one entry) or 'items' (a batch of entries)")
        if self.items is not None and self.text is not None:
            raise ValueError("send either 'text' (one entry) or 'items' (a batch), not both")
        if self.items is not None and not self.items:
            raise ValueError("'items' is empty")
        return self

    def entries(self) -> list[VectorItem]:
        if self.items is not None:
            return self.items
        return [VectorItem(text=self.text or "", source=self.source, metadata=self.metadata)]


class StoreResponse(BaseModel):
    ids: list[str] = Field(description="The point id of each entry, in the order sent")
    count: int = Field(
        description="Entries stored: items naming the same entry (the same source, or the "
        "same text and no source) are one entry, stored as the last of them, as if each had "
        "been sent on its own in turn"
    )
