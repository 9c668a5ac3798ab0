"""Fonts the services render PDFs with (transcripts, diplomas). DejaVu covers Vietnamese; its licence is beside it."""

from pathlib import Path

FONTS = Path(__file__).resolve().parent
