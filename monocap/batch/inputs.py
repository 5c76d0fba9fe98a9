"""Which files a batch processes, and the folder under OUTDIR that each one's output goes to.

Every argument of ``monocap batch`` is one of:

==========================  ==========================================  ==================================
argument                    inputs                                      output folder (under OUTDIR)
==========================  ==========================================  ==================================
a file ``d/clip.mp4``       that file                                   ``clip``
a folder ``corpus/``        every video or image below it, recursively  its path below the folder, without
                            (hidden files and folders skipped)          suffix: ``s1/take1``
a glob ``v/**/*.mp4``       the matching files (quote it; ``**``        its path below the glob's fixed
                            descends into subfolders)                   part ``v/``: ``a/take1``
a list file (``.txt``,      each line a file, folder or glob, relative  the line's path as written (below
``.list``, ``.lst``)        to the list's folder; ``#`` starts a        the list's folder) and below it:
                            comment                                     ``s1/take1`` for ``s1/take1.mp4``
==========================  ==========================================  ==================================

An input is identified by its absolute path: listed twice, it is processed
once. With ``--backend file`` the files looked for are keypoint files
(.json, .npz) instead of videos and images. A folder inside a batch is
therefore a collection of inputs, never one camera's image sequence.

Output folder names are made safe before use (`output_key`): ``..`` and
``.`` components and a leading ``/`` are dropped (a list line
``../../x.mp4`` or ``/data/x.mp4`` lands in ``x`` and ``data/x``), a name
that starts with a dot gets ``_`` instead (so none is hidden, none is
``..``), characters that are unsafe in file names become ``_``, and long
names are shortened. `assign_keys` then keeps them unique: a name already
taken (case-insensitively), or one that is the folder of other outputs,
gets ``-`` and 8 hex digits of the SHA-256 of its input's path. Names once
given are kept in the manifest, so a rerun (even with more inputs) puts
every input where it went before.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts",
                  ".m2ts", ".3gp", ".ogv")
KEYPOINT_SUFFIXES = (".json", ".npz")
LIST_SUFFIXES = (".txt", ".list", ".lst")
# Leaves room in NAME_MAX (255 bytes) for the ".<name>.<pid>.tmp" staging folder beside an output.
MAX_NAME_BYTES = 200
_UNSAFE = re.compile(r'[\x00-\x1f\x7f\\:*?"<>|]')
_GLOB_MAGIC = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class BatchInput:
    """One input of a batch.

    source: its absolute path (not resolved through symbolic links), the identity of the input.
    label: its path relative to the argument that named it (see the module docstring), suffix included.
    """

    source: str
    label: PurePosixPath


@dataclass
class FoundInputs:
    """What the arguments named: the inputs in order, and a warning per argument that named none."""

    inputs: list[BatchInput] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def find_inputs(arguments: list[str], suffixes: tuple[str, ...], exclude: Path | None = None) -> FoundInputs:
    """The inputs named by ``arguments`` (files, folders, globs, list files), each once, in order.

    suffixes: what a folder or a glob contributes (lower case, with the dot).
    exclude: a folder never looked into (OUTDIR, when it lies inside an input folder).
    A file that does not exist is kept as an input (it fails, with its own error); a list file that
    cannot be read raises ValueError.
    """
    found = FoundInputs()
    seen: set[str] = set()
    for argument in arguments:
        for item in _expand(argument, Path.cwd(), False, suffixes, exclude, found.warnings):
            if not _is_utf8(item.source):  # the manifest stores paths as text
                shown = item.source.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                found.warnings.append(f"{shown}: skipped, its path is not valid UTF-8 (rename it)")
            elif item.source not in seen:
                seen.add(item.source)
                found.inputs.append(item)
    return found


def _is_utf8(text: str) -> bool:
    """False for a path with bytes that are not UTF-8 (Python keeps them as surrogate escapes)."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def output_key(label: PurePath) -> str:
    """The output folder (relative, POSIX) an input's label asks for: its path without suffix, made safe.

    ``..``, ``.`` and the root are dropped from the folders; see the module docstring for the rest.
    """
    *folders, name = label.parts or ("input",)
    stem = name if name in (".", "..") else PurePath(name).stem
    kept = [_safe_name(part) for part in folders if part not in (".", "..") and part != label.anchor]
    return "/".join([*kept, _safe_name(stem or "input")])


def assign_keys(inputs: list[BatchInput], existing: dict[str, str], reserved: tuple[str, ...] = ()) -> dict[str, str]:
    """Unique output folders: {source: key}, keeping the ``existing`` {source: key} (from the manifest).

    A key is free when no other key equals it or lies inside it, and no other key is one of its
    parent folders (an output folder holding another one would be replaced with it); comparisons
    ignore case. ``reserved``: top-level names never given (the manifest's files). A new input whose
    name is taken gets 8 hex digits of the SHA-256 of its path; if the clash is with a parent folder,
    that folder's name gets them instead (of the input's folder at that level, so that the inputs of
    one folder stay together).
    """
    taken = _TakenKeys(reserved)
    for key in existing.values():
        taken.add(key)
    wanted = {item.source: output_key(item.label) for item in inputs if item.source not in existing}
    for key in wanted.values():  # the folders new outputs go into: no new output takes their names
        taken.folders.update(_parents(key.casefold()))
    keys: dict[str, str] = {}
    for item in inputs:
        if item.source in existing:
            keys[item.source] = existing[item.source]
            continue
        key = wanted[item.source]
        for _ in range(8):  # a renamed key clashes again only by a coincidence of hashes
            clash = taken.clash(key)
            if clash is None:
                break
            key = _renamed(key, clash, item.source)
        else:
            raise ValueError(f"{item.source}: no free output folder name found (last tried {key})")
        taken.add(key)
        keys[item.source] = key
    return keys


def _renamed(key: str, index: int, source: str) -> str:
    """``key`` with its component ``index`` made unique by a hash: of ``source`` for the last component,
    else of the source's folder at that level."""
    parts = key.split("/")
    level = len(parts) - 2 - index
    ancestors = Path(source).parents
    seed = source if level < 0 or level >= len(ancestors) else str(ancestors[level])
    parts[index] = f"{parts[index]}-{hashlib.sha256(seed.encode()).hexdigest()[:8]}"
    return "/".join(parts)


class _TakenKeys:
    """Keys given so far, and every folder they (or keys about to be given) lie in, case-folded."""

    def __init__(self, reserved: tuple[str, ...]):
        self.leaves = {name.casefold() for name in reserved}
        self.folders: set[str] = set()

    def clash(self, key: str) -> int | None:
        """The index of the component of ``key`` that clashes (a parent that is another key's folder
        first), or None when ``key`` is free."""
        parts = key.casefold().split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in self.leaves:
                return i - 1
        whole = "/".join(parts)
        return len(parts) - 1 if whole in self.leaves or whole in self.folders else None

    def add(self, key: str) -> None:
        key = key.casefold()
        self.leaves.add(key)
        self.folders.update(_parents(key))


def _parents(key: str) -> list[str]:
    parts = key.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _safe_name(name: str) -> str:
    """One path component: no unsafe characters, not hidden, at most MAX_NAME_BYTES of UTF-8."""
    # Bytes that are not UTF-8 (kept by Python as surrogate escapes) become U+FFFD: keys are stored as text.
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    name = _UNSAFE.sub("_", name)
    if name.startswith("."):
        name = "_" + name[1:]
    encoded = name.encode("utf-8")
    if len(encoded) > MAX_NAME_BYTES:
        name = encoded[:MAX_NAME_BYTES - 9].decode("utf-8", "ignore") + "-" + hashlib.sha256(encoded).hexdigest()[:8]
    return name


def _expand(argument: str, root: Path, in_list: bool, suffixes: tuple[str, ...], exclude: Path | None,
            warnings: list[str]) -> list[BatchInput]:
    """The inputs of one argument; ``root`` is where relative paths start (a list file's folder inside a list)."""
    written = PurePath(argument)
    path = root / argument
    if _GLOB_MAGIC.search(argument):
        fixed = PurePath(*[p for p in _until_magic(written.parts)])
        base = root / fixed
        matches = sorted(Path(m) for m in glob.glob(str(path), recursive=True))
        files = [m for m in matches if m.is_file() and m.suffix.lower() in suffixes and not _inside(m, exclude)]
        if not files:
            warnings.append(f"{argument}: matches no {_describe(suffixes)}")
        return [_input(m, (fixed if in_list else PurePath()) / m.relative_to(base)) for m in files]
    if path.is_dir():
        files = list(_walk(path, suffixes, exclude))
        if not files:
            warnings.append(f"{argument}: no {_describe(suffixes)} in this folder")
        return [_input(f, (written if in_list else PurePath()) / f.relative_to(path)) for f in files]
    if path.suffix.lower() in LIST_SUFFIXES and not in_list:
        return _read_list(path, suffixes, exclude, warnings)
    return [_input(path, written if in_list else PurePath(written.name))]


def _read_list(path: Path, suffixes: tuple[str, ...], exclude: Path | None, warnings: list[str]) -> list[BatchInput]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such list file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read this list file ({err})") from None
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        warnings.append(f"{path}: the list names no inputs")
    inputs = []
    for line in lines:
        if PurePath(line).suffix.lower() in LIST_SUFFIXES and not _GLOB_MAGIC.search(line):
            raise ValueError(f"{path}: {line}: a list file cannot name another list file")
        inputs += _expand(line, path.parent, True, suffixes, exclude, warnings)
    return inputs


def _input(path: Path, label: PurePath) -> BatchInput:
    return BatchInput(os.path.abspath(path), PurePosixPath(*label.parts) if label.parts else PurePosixPath("input"))


def _walk(folder: Path, suffixes: tuple[str, ...], exclude: Path | None):
    """Files below ``folder`` with one of ``suffixes``, in sorted order, skipping hidden names and ``exclude``."""
    if _inside(folder, exclude):
        return
    for current, folders, files in os.walk(folder):
        here = Path(current)
        folders[:] = sorted(d for d in folders if not d.startswith(".") and not _inside(here / d, exclude))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                yield here / name


def _until_magic(parts: tuple[str, ...]):
    for part in parts[:-1]:
        if _GLOB_MAGIC.search(part):
            return
        yield part


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    path, folder = Path(os.path.abspath(path)), Path(os.path.abspath(folder))
    return path == folder or folder in path.parents


def _describe(suffixes: tuple[str, ...]) -> str:
    if set(suffixes) >= set(VIDEO_SUFFIXES):
        return "videos or images"
    return "files ending in " + ", ".join(suffixes)


def media_suffixes(backend: str) -> tuple[str, ...]:
    """What folders and globs contribute for a 2D backend: keypoint files for "file", else videos and images."""
    from ..io.video import IMAGE_SUFFIXES  # here: io.video loads OpenCV, which `monocap --help` does without

    return KEYPOINT_SUFFIXES if backend == "file" else VIDEO_SUFFIXES + IMAGE_SUFFIXES
