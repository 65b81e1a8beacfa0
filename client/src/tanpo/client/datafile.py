"""Input files a person writes (party maps, token lists): JSON, or YAML with PyYAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_data_file(path: Path) -> Any:
    """The content of a ``.json`` or ``.yaml``/``.yml`` file; ValueError saying what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"{path} is YAML, which needs PyYAML (pip install "
                             "'tanpo-client[yaml]'); or give JSON") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path} is not YAML: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
