"""Run folders and atomic file writes: every result file is complete or absent."""

from __future__ import annotations

import gzip
import json
import math
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fjax.config import to_dict
from fjax.runtime import TEMP_SUFFIX, write_atomic


def to_jsonable(obj: Any) -> Any:
    """numpy/jax scalars and arrays -> Python; NaN and inf -> None (valid JSON)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, (str, bytes)):
        arr = np.asarray(obj)
        return to_jsonable(arr.tolist()) if arr.ndim else to_jsonable(arr.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return to_jsonable(obj.item())
    return obj


def write_json(path: str | Path, obj: Any) -> Path:
    return write_atomic(path, json.dumps(to_jsonable(obj), indent=2) + "\n")


def write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    """`frame` without its index, atomically; gzipped when `path` ends in .gz, with no
    name or time in the gzip header, so the same frame gives the same bytes, at level 1:
    fraud's scores.csv.gz (16.7 MB of text) takes 0.3 s and 6.5 MB, level 9 2.2-2.7 s
    and 5.8 MB (2026-11-28)."""
    text = frame.to_csv(index=False)
    return write_atomic(path, gzip.compress(text.encode(), compresslevel=1, mtime=0)
                        if str(path).endswith(".gz") else text)


class RunDir:
    """The folder of one run: `config.json` first, then results beside it.

    With `hold` (a resume), its records (`record`: config.json, environment.json, its
    `sub` folders' too) wait until `release` (its first population restored its
    checkpoint): a resume refused before keeps the files of the run that wrote them."""

    def __init__(self, path: str | Path, config: Any | None = None, *, hold: bool = False):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.top = self   # the run's folder, which holds the records (`sub` points it up)
        self.held: dict[Path, Any] | None = {} if hold else None
        if config is not None:
            self.record("config.json", to_dict(config))

    def sub(self, name: str, config: Any | None = None) -> RunDir:
        """A folder of this run (fraud's models/<name>), whose records wait with its own."""
        folder = RunDir(self.path / name)
        folder.top = self.top
        if config is not None:
            folder.record("config.json", to_dict(config))
        return folder

    def record(self, name: str, obj: Any) -> None:
        """Write the JSON `obj` to `name`, now or, while the run holds its records, at
        `release`."""
        if self.top.held is None:
            self.json(name, obj)
        else:
            self.top.held[self.path / name] = obj

    def release(self) -> None:
        """Write the held records, and every later one at once: the resume continues."""
        held, self.top.held = self.top.held or {}, None
        for path, obj in held.items():
            write_json(path, obj)

    def file(self, name: str) -> Path:
        return self.path / name

    def remove(self, *patterns: str) -> None:
        """Delete the files matching these glob patterns, and the folders that leaves
        empty: an earlier run's outputs, so that none is left over beside this run's
        config (a file this run does not write, a log that would be appended to)."""
        # A run killed mid-write can leave a file's temporary twin behind (`atomic_path`).
        twins = [str(PurePosixPath(p).parent / f".{PurePosixPath(p).name}.*{TEMP_SUFFIX}")
                 for p in patterns]
        self._delete((*patterns, *twins), Path.is_file, Path.unlink)

    def remove_trees(self, *patterns: str) -> None:
        """Delete the folders matching these glob patterns with everything in them, and
        the folders that leaves empty (a run's checkpoints, however a kill left them)."""
        self._delete(patterns, Path.is_dir, shutil.rmtree)

    def _delete(self, patterns, kind, delete) -> None:
        for pattern in patterns:
            for path in sorted(self.path.glob(pattern)):  # listed before any is removed
                if not kind(path):
                    continue
                delete(path)
                for folder in path.parents:
                    if folder == self.path or any(folder.iterdir()):
                        break
                    folder.rmdir()

    def json(self, name: str, obj: Any) -> Path:
        return write_json(self.path / name, obj)

    def csv(self, name: str, frame: pd.DataFrame) -> Path:
        return write_csv(self.path / name, frame)

    def text(self, name: str, text: str) -> Path:
        return write_atomic(self.path / name, text)

    def bytes(self, name: str, data: bytes) -> Path:
        return write_atomic(self.path / name, data)


def number_text(v: float, floatfmt: str = "{:.4g}") -> str:
    """A float as `markdown_table` writes it (and figures and sentences that quote its
    digits): by `floatfmt`, but whole where that would give a positive exponent, without
    the point "{:#.4g}" leaves on 9877., never "-0", and "n/a" when not finite."""
    if not np.isfinite(v):
        return "n/a"
    text = floatfmt.format(v)
    if "e+" in text and abs(v) < 1e15:   # 3.09e+04 reads as a whole number: 30900
        text = f"{v:.0f}"
    text = text.removesuffix(".")
    return text[1:] if text.startswith("-") and float(text) == 0 else text   # no "-0"


def figure_lines(figures: Sequence[str], captions: Mapping[str, str]) -> list[str]:
    """report.md lines showing each of `figures` (file names) with its caption, a sentence
    on what to look for in it: an image alone leaves the reader to guess what it shows."""
    lines = []
    for name in figures:
        lines += [f"![{Path(name).stem}]({name})", "", captions[name], ""]
    return lines


def markdown_table(frame: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    """A GitHub-flavoured markdown table (no extra dependency); floats as `number_text`
    writes them."""
    def cell(v):
        if v is None:
            return "n/a"
        if isinstance(v, (float, np.floating)):
            return number_text(v, floatfmt)
        return str(v)
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
