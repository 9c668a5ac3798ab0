from __future__ import annotations

from pydantic import BaseModel, Field


class CodeExchange(BaseModel):
    code: str = Field(min_length=1, max_length=200, description="the one-time code the callback put in return_to")
