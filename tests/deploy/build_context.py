"""What ``docker build .`` would send and copy, read from the Dockerfile and .dockerignore.

No Docker daemon runs on the development or CI machines, so the image's build context is
checked by reading the files the way Docker does: instructions with their line
continuations, and ``.dockerignore`` patterns with Go's ``filepath.Match`` syntax plus ``**``
(a path is excluded when it or one of its parent directories matches; ``!`` re-includes).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def words(self) -> list[str]:
        """The arguments as a list: JSON (exec) form or shell words."""
        text = self.arguments.strip()
        if text.startswith("["):
            return list(json.loads(text))
        return shlex.split(text)


def instructions(dockerfile: Path) -> list[Instruction]:
    """The Dockerfile's instructions, comments dropped and continued lines joined."""
    result, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, arguments = text.partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip()))
    return result


def copy_sources(dockerfile: Path) -> list[tuple[list[str], str]]:
    """Each COPY/ADD from the build context: (sources, destination)."""
    copies = []
    for instruction in instructions(dockerfile):
        if instruction.keyword not in ("COPY", "ADD"):
            continue
        words = [word for word in instruction.words() if not word.startswith("--")]
        copies.append((words[:-1], words[-1]))
    return copies


def environment(dockerfile: Path) -> dict[str, str]:
    """The image's ENV settings (``KEY=value`` form)."""
    env: dict[str, str] = {}
    for instruction in instructions(dockerfile):
        if instruction.keyword == "ENV":
            for word in instruction.words():
                key, _, value = word.partition("=")
                env[key] = value
    return env


def _regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


class DockerIgnore:
    """The patterns of a ``.dockerignore``; ``excludes(path)`` as Docker decides it."""

    def __init__(self, text: str) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        self.reincluded: list[str] = []  # the "!" patterns, as written
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            self.rules.append((negated, _regex(pattern)))
            if negated:
                self.reincluded.append(pattern)

    def skips_directory(self, path: str) -> bool:
        """Whether nothing below the directory ``path`` can be in the context: it is excluded
        and no "!" pattern reaches below it (so .venv is not walked)."""
        return self.excludes(path) and not any(
            pattern.startswith(f"{path}/") or not pattern[:1].isalnum()
            for pattern in self.reincluded
        )

    def excludes(self, path: str) -> bool:
        parts = Path(path).parts
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for negated, regex in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                excluded = not negated
        return excluded


def context_files(root: Path) -> list[str]:
    """Every file under ``root`` that the build context holds (paths relative to it)."""
    ignore = DockerIgnore((root / ".dockerignore").read_text())
    files = []
    for directory, subdirectories, names in os.walk(root):
        relative = Path(directory).relative_to(root)
        subdirectories[:] = [
            name
            for name in subdirectories
            if not ignore.skips_directory(str(relative / name).removeprefix("./"))
        ]
        files.extend(
            str(relative / name) for name in names if not ignore.excludes(str(relative / name))
        )
    return sorted(path.removeprefix("./") for path in files)
