from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OccupationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    level: str
