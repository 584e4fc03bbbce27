"""The digits table's columns: an id, 64 pixel intensities (0–16) and the label."""

from __future__ import annotations

ID_COLUMN = "image_id"
TARGET = "label"
PIXELS = 64
MAX_INTENSITY = 16
FEATURES = tuple(f"pixel_{i}" for i in range(PIXELS))
CLASSES = tuple(range(10))
