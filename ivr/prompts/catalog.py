"""The prompt catalogue (ivr/prompts/catalog.yaml): prompt texts by id and language, and spoken digits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hotline.errors import HotlineError

CATALOG = Path(__file__).with_name("catalog.yaml")
LANGUAGES = ("vi", "en")


class CatalogError(HotlineError):
    pass


@dataclass(frozen=True)
class Catalog:
    path: Path
    prompts: dict[str, dict[str, str]]  # id -> language -> text
    digits: dict[str, list[str]]  # language -> ten words
    # Asterisk's own sound files (queue announcements, number words): path under <sounds>/<language>.
    asterisk: dict[str, dict[str, str]] = field(default_factory=dict)

    def text(self, prompt: str, language: str) -> str:
        return self.prompts[prompt][language]


def load(path: Path = CATALOG) -> Catalog:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise CatalogError(f"{path}:{mark.line + 1 if mark else 1}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), dict):
        raise CatalogError(f"{path}: needs a 'prompts:' mapping of id: {{vi: text, en: text}}")
    prompts: dict[str, dict[str, str]] = {}
    for pid, texts in data["prompts"].items():
        if not isinstance(texts, dict) or not str(texts.get("vi", "")).strip():
            raise CatalogError(f"{path}: prompt '{pid}' needs a 'vi' text")
        unknown = set(texts) - set(LANGUAGES)
        if unknown:
            raise CatalogError(f"{path}: prompt '{pid}': unknown language(s) {sorted(unknown)}; use vi or en")
        prompts[str(pid)] = {str(k): str(v).strip() for k, v in texts.items()}
    digits = {str(k): [str(w) for w in v] for k, v in (data.get("digits") or {}).items()}
    for language, words in digits.items():
        if len(words) != 10:
            raise CatalogError(f"{path}: digits.{language} needs ten words, zero to nine")
    asterisk: dict[str, dict[str, str]] = {}
    for rel, texts in (data.get("asterisk") or {}).items():
        rel = str(rel)
        if not isinstance(texts, dict) or rel.startswith("/") or ".." in rel.split("/"):
            raise CatalogError(f"{path}: asterisk.{rel}: needs a relative sound path and {{vi: text}}")
        unknown = set(texts) - set(LANGUAGES)
        if unknown:
            raise CatalogError(f"{path}: asterisk.{rel}: unknown language(s) {sorted(unknown)}; use vi or en")
        asterisk[rel] = {str(k): str(v).strip() for k, v in texts.items()}
    return Catalog(path=path, prompts=prompts, digits=digits, asterisk=asterisk)
