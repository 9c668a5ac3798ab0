from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ChangeRead(BaseModel):
    version: int
    institution_code: str
    entity: str
    operation: str
    key: dict[str, Any]
    old_key: dict[str, Any] | None
    changed_at: datetime
