"""Menu trees as data (YAML). hotline.yaml is the hotline's own, shared by both numbers."""

from pathlib import Path

DEFAULT_FLOW = Path(__file__).with_name("hotline.yaml")
