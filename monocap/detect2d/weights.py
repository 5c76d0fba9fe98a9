"""Model weights that are not shipped with monocap: download once, verify, cache.

Files live in ``<cache>/weights/`` where ``<cache>`` is, first found: the
``cache_dir`` argument, the ``MONOCAP_CACHE`` environment variable,
``~/.cache/monocap``. A download is written under a temporary name in that
folder and renamed to its final name only once its SHA-256 matches the
registry, so the cache never holds a partial or unverified file.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from tqdm import tqdm

CACHE_ENV = "MONOCAP_CACHE"
# Seconds to wait for the server to answer (and for each chunk after); with no
# network the lookup itself fails, well before this.
DEFAULT_TIMEOUT_S = 10.0
_CHUNK = 1 << 20


class WeightsError(RuntimeError):
    """Weights could not be found, downloaded or verified; the message says what to do."""


@dataclass(frozen=True)
class WeightSpec:
    """Where one model's weights come from.

    url: the official download (http(s) or file URL).
    sha256: hex digest of the file kept in the cache (for an archive, of
        the extracted ``member``, so a re-packed archive still verifies).
    filename: its name in the cache.
    member: the file to take out of a zip archive (matched by base name),
        None when ``url`` is the file itself.
    licence: the weights' terms of use.
    """

    name: str
    url: str
    sha256: str
    filename: str
    member: str | None = None
    licence: str = ""


REGISTRY: dict[str, WeightSpec] = {
    # RTMO-s trained on Body7 (COCO, AIC, CrowdPose, MPII, JHMDB, Halpe, PoseTrack18), 640x640 input,
    # the ONNX export OpenMMLab publishes with MMPose. The SHA-256 of end2end.onnx was taken from a
    # public script that pins the same file; it could not be checked here (no internet on the
    # development machine), so the first real download is also the first check of this value.
    "rtmo-s": WeightSpec(
        name="rtmo-s",
        url="https://download.openmmlab.com/mmpose/v1/projects/rtmo/onnx_sdk/"
            "rtmo-s_8xb32-600e_body7-640x640-dac2bf74_20231211.zip",
        sha256="d0703d40d19f3921da51ae725402d5fdae4d2478c7442072d3101bd396f370d8",
        filename="rtmo-s_body7_640x640.onnx",
        member="end2end.onnx",
        licence="Apache-2.0 (OpenMMLab); the Body7 training sets carry their own terms",
    ),
}


def weights_dir(cache_dir: str | Path | None = None) -> Path:
    """The folder that holds downloaded weights (see the module docstring)."""
    root = cache_dir or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "monocap"
    return Path(root).expanduser() / "weights"


def resolve_weights(model: str | WeightSpec, weights: str | Path | None = None,
                    cache_dir: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                    progress: bool = True) -> Path:
    """The local path of a model's weights, downloading them on first use.

    ``weights``: a local file to use instead (a user's own export is taken
    as it is, without a hash check). Otherwise ``model`` names a `REGISTRY`
    entry (or is a `WeightSpec`), and the cached copy is used once its hash
    is checked, or downloaded and verified. Raises `WeightsError`.
    """
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"--weights {path}: no such file")
        return path
    spec = model if isinstance(model, WeightSpec) else _registered(model)
    target = weights_dir(cache_dir) / spec.filename
    if target.is_file():
        digest = sha256_of(target)
        if digest != spec.sha256:
            raise WeightsError(f"{target}: SHA-256 {digest} does not match {spec.name}'s {spec.sha256}; "
                               "the cached file is damaged: delete it to download it again")
        return target
    return download(spec, target, timeout, progress)


def download(spec: WeightSpec, target: Path, timeout: float = DEFAULT_TIMEOUT_S, progress: bool = True) -> Path:
    """Fetch ``spec`` into ``target`` (atomically, only if its SHA-256 matches); returns ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []
    try:
        fetched = _temp_beside(target, temps)
        with open(fetched, "wb") as out:
            digest = _fetch_url(spec, out, timeout, progress)
        if spec.member is not None:
            unpacked = _temp_beside(target, temps)
            digest = _extract_member(spec, fetched, unpacked)
            fetched = unpacked
        if digest != spec.sha256:
            raise WeightsError(f"{spec.url}: the downloaded {spec.name} weights have SHA-256 {digest}, "
                               f"expected {spec.sha256}; nothing was saved")
        os.replace(fetched, target)
        return target
    finally:
        for path in temps:
            path.unlink(missing_ok=True)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _registered(name: str) -> WeightSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise WeightsError(f"unknown model {name!r}; known: {', '.join(REGISTRY)} "
                           "(or give a local ONNX file with --weights PATH)") from None


def _temp_beside(target: Path, temps: list[Path]) -> Path:
    """A new, uniquely named hidden file in target's folder, remembered in ``temps`` for clean-up."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    temps.append(Path(name))
    return temps[-1]


def _fetch_url(spec: WeightSpec, out: BinaryIO, timeout: float, progress: bool) -> str:
    """Stream ``spec.url`` into ``out``; returns the SHA-256 of what was written."""
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(spec.url, timeout=timeout) as response:
            size = response.headers.get("Content-Length")
            with tqdm(total=int(size) if size else None, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=f"downloading {spec.name}", disable=not progress) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
    except OSError as err:  # URLError, refused connections and timeouts are all OSErrors
        reason = getattr(err, "reason", err)
        raise WeightsError(f"cannot download the {spec.name} weights from {spec.url} ({reason}). "
                           "Without network access use `--backend mediapipe`, or give a local ONNX "
                           "file with `--weights PATH`") from None
    return h.hexdigest()


def _extract_member(spec: WeightSpec, archive: Path, out_path: Path) -> str:
    """Copy ``spec.member`` out of the zip ``archive`` into ``out_path``; returns its SHA-256."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if PurePosixPath(n).name == spec.member]
            if len(names) != 1:
                raise WeightsError(f"{spec.url}: expected one {spec.member} in the archive, found {len(names)}")
            h = hashlib.sha256()
            with zf.open(names[0]) as src, open(out_path, "wb") as out:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
                    h.update(chunk)
    except zipfile.BadZipFile:
        raise WeightsError(f"{spec.url}: the download is not a zip archive; nothing was saved") from None
    return h.hexdigest()
