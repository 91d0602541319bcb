"""Menu trees as data (YAML). hotline.yaml is the hotline's own, shared by both numbers."""

from pathlib import Path

from hotline.settings import Settings

DEFAULT_FLOW = Path(__file__).with_name("hotline.yaml")


def flow_path(settings: Settings) -> Path:
    """The site's menu tree: [ivr] flow, relative to the settings file, or the shipped one."""
    return settings.path(settings.ivr.flow) if settings.ivr.flow else DEFAULT_FLOW
