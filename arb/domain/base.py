from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Base of every domain object: immutable, strict about unknown fields, deterministic."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=True)
