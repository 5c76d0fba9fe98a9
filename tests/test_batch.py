"""`monocap batch` on real inputs: names, bad inputs, SIGKILL and resume, a dying worker, safety, Ray.

The lifter has throwaway random weights (`random_weights`) and overlays are
off where they would only cost time: these tests check what is processed,
recorded and written, not how accurate the poses are.
"""
import fcntl
import hashlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("mediapipe")

from monocap.batch.inputs import assign_keys, find_inputs, media_suffixes, output_key  # noqa: E402
from monocap.cli import main  # noqa: E402
from test_pipeline import _frames as read_frames, _write_video as write_video  # noqa: E402


@pytest.fixture(scope="module")
def media(shared_data) -> Path:
    return shared_data / "media"


def manifest_rows(outdir: Path) -> dict[str, dict]:
    db = sqlite3.connect(outdir / "batch.sqlite", timeout=10)
    try:
        db.row_factory = sqlite3.Row
        return {r["key"]: dict(r) for r in db.execute("SELECT * FROM inputs")}
    finally:
        db.close()


def set_rows(outdir: Path, sql: str, *args) -> None:
    db = sqlite3.connect(outdir / "batch.sqlite", timeout=10)
    with db:
        db.execute(sql, args)
    db.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def path_hash(path: Path) -> str:
    """The 8 hex digits `assign_keys` appends to a name that is taken."""
    return hashlib.sha256(str(path).encode()).hexdigest()[:8]


def check_outdir(outdir: Path, rows: dict[str, dict]) -> None:
    """Finished inputs have their output with the recorded checksum, nothing else has one, nothing is half-written."""
    outputs = {p.parent.relative_to(outdir).as_posix() for p in outdir.rglob("poses3d.npz")}
    assert outputs == {key for key, row in rows.items() if row["status"] in ("ok", "empty")}
    for key in outputs:
        assert rows[key]["checksum"] == sha256(outdir / key / "poses3d.npz")
    assert [p.name for p in outdir.rglob(".*")] == [".batch.lock"], "no staging folders left"


def npz_arrays(folder: Path) -> dict:
    with np.load(folder / "poses3d.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def assert_same_as_monocap_run(batch_folder: Path, source: Path, run_args: list[str], tmp: Path) -> None:
    """The batch wrote what `monocap run` with the same options writes for this input."""
    assert main(["run", str(source), "-o", str(tmp), *run_args, "-q"]) == 0
    single = tmp / source.stem
    assert sorted(p.name for p in batch_folder.iterdir()) == sorted(p.name for p in single.iterdir())
    ours, theirs = npz_arrays(batch_folder), npz_arrays(single)
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    assert json.loads((batch_folder / "poses3d.json").read_text()) == json.loads((single / "poses3d.json").read_text())


def children(pid: int) -> dict[int, str]:
    """{pid: command line} of the processes whose parent is ``pid``."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    return found


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def rows_or_empty(outdir: Path) -> dict[str, dict]:
    try:
        return manifest_rows(outdir)
    except sqlite3.Error:  # not created yet
        return {}


def start_batch(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "monocap", "batch", *args, "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def variable_frame_rate(cfr: Path, vfr: Path, durations: list[tuple[int, int]]) -> None:
    """Copy an mp4 (index at the end, as OpenCV writes it) with its sample durations replaced.

    durations: (sample count, duration in the track's time units) runs for the ``stts`` box; the
    boxes that contain it grow accordingly. The media data comes before the index, so its offsets stay valid.
    """
    data = cfr.read_bytes()
    containers = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}

    def rebuild(start: int, end: int) -> bytes:
        out, offset = b"", start
        while offset < end:
            size, kind = struct.unpack(">I4s", data[offset:offset + 8])
            assert size >= 8, "64-bit box sizes are not needed here"
            body = data[offset + 8:offset + size]
            if kind in containers:
                body = rebuild(offset + 8, offset + size)
            elif kind == b"stts":
                runs = b"".join(struct.pack(">II", *d) for d in durations)
                body = body[:4] + struct.pack(">I", len(durations)) + runs
            out += struct.pack(">I4s", 8 + len(body), kind) + body
            offset += size
        return out
    vfr.write_bytes(rebuild(0, len(data)))


# --- inputs and names -----------------------------------------------------------------------------

def test_inputs_from_folders_globs_and_lists_get_unique_names_inside_outdir(tmp_path, monkeypatch):
    files = ["corpus/s1/take1.mp4", "corpus/s1/take1.avi", "corpus/s2/take1.mp4", "corpus/s1.mp4", "corpus/...mp4",
             "corpus/.hidden/x.mp4", "corpus/notes.md", "corpus/out/old/overlay.mp4", "clips/a/run.mov",
             "clips/b/run.mov", "elsewhere/evil.mp4", "lists/s3/walk.mp4", "batch.sqlite.mp4"]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "corpus" / os.fsdecode(b"caf\xe9.mp4")).write_bytes(b"")  # a Latin-1 name
    (tmp_path / "lists" / "videos.txt").write_text(
        "# one input per line\n"
        "s3/walk.mp4\n"
        "../elsewhere/evil.mp4      # climbs out of the list's folder\n"
        f"{tmp_path}/clips/a/run.mov\n"  # absolute; also found by the glob: processed once
        "../corpus/s1/take1.mp4\n")
    monkeypatch.chdir(tmp_path)
    outdir = tmp_path / "corpus" / "out"  # inside an input folder: never searched
    found = find_inputs(["corpus", "clips/*/*.mov", "lists/videos.txt", "nothing/*.mp4", "batch.sqlite.mp4",
                         "corpus/...mp4"],  # hidden, so not found in the folder, but named on its own
                        media_suffixes("mediapipe"), exclude=outdir)
    assert found.warnings == [f"{tmp_path}/corpus/caf\ufffd.mp4: skipped, its path is not valid UTF-8 (rename it)",
                              "nothing/*.mp4: matches no videos or images"]
    keys = assign_keys(found.inputs, {}, ("batch.sqlite",))
    by_file = {Path(source).relative_to(tmp_path).as_posix(): key for source, key in keys.items()}
    assert by_file == {
        "corpus/...mp4": "_.",  # a stem of ".." never names the parent folder
        "corpus/s1.mp4": f"s1-{path_hash(tmp_path / 'corpus/s1.mp4')}",  # s1/ holds other outputs
        "corpus/s1/take1.avi": "s1/take1",
        "corpus/s1/take1.mp4": f"s1/take1-{path_hash(tmp_path / 'corpus/s1/take1.mp4')}",  # same stem
        "corpus/s2/take1.mp4": "s2/take1",
        "clips/a/run.mov": "a/run",  # below the glob's fixed part
        "clips/b/run.mov": "b/run",
        "lists/s3/walk.mp4": "s3/walk",  # as written in the list
        "elsewhere/evil.mp4": "elsewhere/evil",  # ".." dropped
        "batch.sqlite.mp4": f"batch.sqlite-{path_hash(tmp_path / 'batch.sqlite.mp4')}",  # the manifest's name
    }
    for key in keys.values():
        assert (outdir / key).resolve().is_relative_to(outdir.resolve())

    assert output_key(PurePosixPath("/data/corpus/../x.mp4")) == "data/corpus/x"  # an absolute list line
    assert output_key(PurePosixPath("../../..")) == "_."
    assert output_key(PurePosixPath("a:b/.c?.mp4")) == "a_b/_c_"
    assert len(output_key(PurePosixPath("x" * 300 + ".mp4")).encode()) == 200
    # Names once given stay, whatever the order or the new inputs; a new input goes around them.
    (tmp_path / "late").mkdir()
    (tmp_path / "late" / "s2").mkdir()
    (tmp_path / "late" / "s2" / "take1.mp4").write_bytes(b"")
    later = find_inputs(["late", "corpus"], media_suffixes("mediapipe"), exclude=outdir).inputs
    again = assign_keys(later[::-1], keys, ("batch.sqlite",))
    assert len(again) == 5 and {s: k for s, k in again.items() if s in keys} == {s: keys[s] for s in again if s in keys}
    assert again[str(tmp_path / "late/s2/take1.mp4")] == f"s2/take1-{path_hash(tmp_path / 'late/s2/take1.mp4')}"


# --- bad inputs -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bad_corpus(media, tmp_path_factory) -> Path:
    """Inputs of every kind that goes wrong in archives, beside good ones (see the test below)."""
    corpus = tmp_path_factory.mktemp("corpus")
    (corpus / "zero.mp4").write_bytes(b"")
    clip = (media / "short_5frames.mp4").read_bytes()
    (corpus / "truncated.mp4").write_bytes(clip[:len(clip) // 2])
    (corpus / "notes.mp4").write_text("minutes of the meeting, not a video\n")
    (corpus / "clip.mp4").write_bytes(clip)
    cv2.imwrite(str(corpus / "tiny.png"), np.full((1, 1, 3), 200, np.uint8))
    photo = cv2.imread(str(media / "coco" / "000000000785.jpg"))  # one skier, 640x425
    cv2.imwrite(str(corpus / "photo.png"), photo)
    cv2.imwrite(str(corpus / "gray.png"), cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(corpus / "rgba.png"), np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)]))
    cv2.imwrite(str(corpus / "large.png"), cv2.resize(photo, (9000, 5977), interpolation=cv2.INTER_CUBIC))
    frames = list(read_frames(media / "short_5frames.mp4"))
    write_video(corpus / "nobody.mp4", [np.full_like(frames[0], 128)] * 12, 12.0)
    # 10 frames: 5 at 20 fps, then 5 at 6.7 fps (time units of 1/10240 s), 1 s in all.
    constant = tmp_path_factory.mktemp("cfr") / "cfr.mp4"
    write_video(constant, frames * 2, 10.0)
    variable_frame_rate(constant, corpus / "vfr.mp4", [(5, 512), (5, 1536)])
    return corpus


def test_bad_input_corpus_finishes_with_an_error_per_failed_input(bad_corpus, random_weights, tmp_path, capsys):
    capture = cv2.VideoCapture(str(bad_corpus / "vfr.mp4"))
    stamps = []
    while capture.read()[0]:
        stamps.append(capture.get(cv2.CAP_PROP_POS_MSEC))
    assert len(stamps) == 10 and len(set(np.round(np.diff(stamps)))) == 2, "the input really has two frame rates"

    out = tmp_path / "out"
    args = ["batch", str(bad_corpus), "-o", str(out), "--model", str(random_weights), "--no-overlay",
            "--workers", "2"]
    assert main(args) == 1
    rows = manifest_rows(out)
    status = {key: row["status"] for key, row in rows.items()}
    assert status == {"clip": "ok", "gray": "ok", "large": "ok", "nobody": "empty", "notes": "failed",
                      "photo": "ok", "rgba": "ok", "tiny": "empty", "truncated": "failed", "vfr": "ok",
                      "zero": "failed"}
    assert rows["zero"]["error"] == f"{bad_corpus / 'zero.mp4'}: empty file (0 bytes)"
    assert rows["notes"]["error"].startswith(f"{bad_corpus / 'notes.mp4'}: not a readable video")
    assert rows["truncated"]["error"].startswith(f"{bad_corpus / 'truncated.mp4'}: not a readable video")
    assert "nobody found in 12 frame(s)" in rows["nobody"]["warning"]
    assert "nobody found in 1 frame(s)" in rows["tiny"]["warning"]
    assert all(row["attempts"] == 1 and row["seconds"] > 0 and row["worker"] for row in rows.values())
    assert len({row["worker"] for row in rows.values()}) == 2
    check_outdir(out, rows)
    captured = capsys.readouterr()
    assert "11 input(s): 6 ok, 2 empty (nobody tracked), 3 failed; 11 processed now" in captured.out
    failed_lines = [line for line in captured.err.splitlines() if line.startswith("monocap batch: failed: ")]
    assert sorted(failed_lines) == sorted(f"monocap batch: failed: {rows[k]['error']}"
                                          for k in ("notes", "truncated", "zero"))

    # Grey and transparent images are read as colour; a very large one is the same photo, 14x larger.
    photo, rgba, gray, large = (npz_arrays(out / k) for k in ("photo", "rgba", "gray", "large"))
    np.testing.assert_array_equal(rgba["keypoints2d"], photo["keypoints2d"])
    seen = photo["scores"][0, 0] > 0.5
    assert np.median(np.linalg.norm(gray["keypoints2d"] - photo["keypoints2d"], axis=-1)[0, 0][seen]) < 8
    scale = 9000 / 640
    assert np.median(np.linalg.norm(large["keypoints2d"] / scale - photo["keypoints2d"], axis=-1)[0, 0][seen]) < 8
    assert tuple(large["image_size"]) == (9000, 5977)
    vfr = npz_arrays(out / "vfr")
    assert vfr["poses3d"].shape[1] == 10 and float(vfr["fps"]) == pytest.approx(10.0, rel=0.05)
    assert_same_as_monocap_run(out / "clip", bad_corpus / "clip.mp4",
                               ["--model", str(random_weights), "--no-overlay"], tmp_path / "single")

    # Run again: nothing is processed twice, the failures are still reported.
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("poses3d.npz")}
    assert main(args) == 1
    assert manifest_rows(out) == rows
    assert {p: p.stat().st_mtime_ns for p in out.rglob("poses3d.npz")} == mtimes
    assert "0 processed now, 11 done before" in capsys.readouterr().out


# --- killed and resumed ---------------------------------------------------------------------------

def test_sigkill_part_way_then_resume_processes_every_input_exactly_once(media, random_weights, tmp_path):
    inputs = tmp_path / "in"
    for folder in ("day1", "day2"):
        (inputs / folder).mkdir(parents=True)
        for i in range(2):
            os.link(media / "short_5frames.mp4", inputs / folder / f"take{i}.mp4")
    out = tmp_path / "out"
    args = [str(inputs), "-o", str(out), "--model", str(random_weights), "--no-overlay", "--workers", "1"]
    batch = start_batch(args)
    try:
        wait_for(lambda: any(r["status"] == "ok" for r in rows_or_empty(out).values()), 120, "a first output")
        workers = [pid for pid, cmd in children(batch.pid).items() if "resource_tracker" not in cmd]
        os.kill(batch.pid, signal.SIGKILL)
        batch.wait(timeout=10)
    finally:
        batch.kill()
    assert workers, "the batch had a worker process"
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 10, "its workers to die with it")

    at_kill = manifest_rows(out)
    done_at_kill = {key for key, row in at_kill.items() if row["status"] == "ok"}
    assert 1 <= len(done_at_kill) < 4, "killed part-way"
    outputs_at_kill = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("poses3d.npz")}

    assert main(["batch", *args, "-q"]) == 0
    rows = manifest_rows(out)
    assert sorted(rows) == [f"day{d}/take{i}" for d in (1, 2) for i in range(2)]
    assert all(row["status"] == "ok" for row in rows.values())
    check_outdir(out, rows)
    for path, identity in outputs_at_kill.items():  # what was written before the kill was not written again
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == identity
    for key in done_at_kill:
        assert rows[key]["attempts"] == 1
    # Only the input the worker had when the batch was killed is started a second time (if it did not finish).
    assert sum(row["attempts"] for row in rows.values()) <= len(rows) + 1


def test_a_worker_that_dies_fails_only_its_input(media, random_weights, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_video(inputs / "a_long.mp4", [f for _, f in zip(range(30), read_frames(media / "demo.mp4"))], 30.0)
    for i in range(2):
        os.link(media / "short_5frames.mp4", inputs / f"b{i}.mp4")
    out = tmp_path / "out"
    batch = start_batch([str(inputs), "-o", str(out), "--model", str(random_weights), "--no-overlay",
                         "--workers", "1"])
    try:
        wait_for(lambda: rows_or_empty(out).get("a_long", {}).get("status") == "running", 60, "the long input")
        worker = wait_for(lambda: [pid for pid, cmd in children(batch.pid).items() if "spawn_main" in cmd], 30,
                          "the worker process")
        os.kill(worker[0], signal.SIGKILL)  # as the kernel's out-of-memory killer would
        _, err = batch.communicate(timeout=120)
    finally:
        batch.kill()
    assert batch.returncode == 1
    rows = manifest_rows(out)
    assert {k: r["status"] for k, r in rows.items()} == {"a_long": "failed", "b0": "ok", "b1": "ok"}
    assert rows["a_long"]["error"] == (f"{inputs / 'a_long.mp4'}: the worker process died while processing it "
                                       "(killed by SIGKILL); out of memory?")
    assert f"monocap batch: failed: {rows['a_long']['error']}" in err
    check_outdir(out, rows)


def test_resume_settles_what_earlier_batches_left(media, random_weights, tmp_path, capsys):
    """Precomputed keypoints (--backend file) keep this fast; the states are those a killed batch leaves."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("adopt", "redo", "changed"):
        os.link(media / "coco" / "test_coco.json", inputs / f"{name}.json")
    (inputs / "broken.json").write_text("{not json")
    out = tmp_path / "out"
    args = ["batch", str(inputs), "-o", str(out), "--backend", "file", "--image-size", "640,480",
            "--min-track-frames", "1", "--model", str(random_weights), "--workers", "1", "-q"]
    assert main([*args, "--inputs-per-worker", "2"]) == 1
    first = manifest_rows(out)
    assert {k: r["status"] for k, r in first.items()} == {"adopt": "ok", "broken": "failed", "changed": "ok",
                                                          "redo": "ok"}
    assert len({r["worker"] for r in first.values()}) == 2, "one worker process after the other, 2 inputs each"
    # A batch killed after its worker finished "adopt" but before it was recorded, and while "redo" was
    # half-written (the output there is older than the attempt); "changed" was edited since.
    now = time.time()
    set_rows(out, "UPDATE inputs SET status = 'running', checksum = NULL WHERE key = 'adopt'")
    set_rows(out, "UPDATE inputs SET status = 'running', started_at = ? WHERE key = 'redo'", now + 3600)
    (out / ".redo.4242.tmp").mkdir()
    (out / ".redo.4242.tmp" / "poses3d.npz").write_bytes(b"half")
    with open(out / "changed" / "poses3d.npz", "ab") as f:
        f.write(b"edited")
    adopted_mtime = (out / "adopt" / "poses3d.npz").stat().st_mtime_ns

    assert main(args[:-1]) == 1  # not quiet: the summary line
    rows = manifest_rows(out)
    assert {k: r["status"] for k, r in rows.items()} == {k: r["status"] for k, r in first.items()}
    assert {k: r["attempts"] for k, r in rows.items()} == {"adopt": 1, "broken": 1, "changed": 2, "redo": 2}
    assert (out / "adopt" / "poses3d.npz").stat().st_mtime_ns == adopted_mtime
    assert rows["adopt"]["checksum"] == first["adopt"]["checksum"]
    check_outdir(out, rows)
    assert "2 processed now, 1 done before, 1 recorded from an interrupted batch" in capsys.readouterr().out

    assert main([*args, "--retry-failed"]) == 1
    assert manifest_rows(out)["broken"]["attempts"] == 2

    # Problems with the batch itself: one line, exit status 2, nothing processed.
    assert main([*args, "--fov", "70"]) == 2
    assert "this OUTDIR was processed with other options" in capsys.readouterr().err
    with open(out / ".batch.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert main(args) == 2
        assert f"monocap batch: error: {out}: another monocap batch is running on this OUTDIR" in \
            capsys.readouterr().err
    assert main(["batch", str(tmp_path / "none" / "*.mp4"), "-o", str(tmp_path / "o2"), "-q"]) == 2
    assert "no inputs found" in capsys.readouterr().err
    (tmp_path / "o3").mkdir()
    (tmp_path / "o3" / "batch.sqlite").write_text("not a database")
    assert main([*args[:3], str(tmp_path / "o3"), *args[4:]]) == 2
    assert f"{tmp_path / 'o3' / 'batch.sqlite'}: not a readable SQLite manifest" in capsys.readouterr().err
    assert manifest_rows(out)["broken"]["attempts"] == 2


# --- safety ---------------------------------------------------------------------------------------

class _Payload:
    """Unpickling this creates a file: a stand-in for code a malicious file would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_outputs_stay_inside_outdir_and_pickled_arrays_are_not_loaded(media, random_weights, tmp_path):
    work = tmp_path / "work"
    (work / "lists").mkdir(parents=True)
    (tmp_path / "abs").mkdir()
    coco = (media / "coco" / "test_coco.json").read_bytes()
    for path in (tmp_path / "up.json", tmp_path / "abs" / "abs.json", work / "...json"):
        path.write_bytes(coco)
    marker = tmp_path / "pickle-ran"
    np.savez(work / "evil.npz", keypoints=np.array([_Payload(marker)], dtype=object))
    (work / "lists" / "inputs.txt").write_text(f"../../up.json\n{tmp_path}/abs/abs.json\n../...json\n../evil.npz\n")
    before = {p for p in tmp_path.rglob("*")}
    out = work / "out"
    assert main(["batch", str(work / "lists" / "inputs.txt"), "-o", str(out), "--backend", "file",
                 "--image-size", "640,480", "--min-track-frames", "1", "--model", str(random_weights), "-q"]) == 1
    created = {p for p in tmp_path.rglob("*")} - before
    assert created and all(p == out or out in p.parents for p in created), "nothing written outside OUTDIR"
    rows = manifest_rows(out)
    absolute_key = output_key(PurePosixPath(tmp_path / "abs" / "abs"))
    assert {k: r["status"] for k, r in rows.items()} == {"up": "ok", absolute_key: "ok", "_.": "ok",
                                                         "evil": "failed"}
    assert not absolute_key.startswith("/") and ".." not in absolute_key.split("/")
    assert "pickled object array" in rows["evil"]["error"] and not marker.exists()
    check_outdir(out, rows)


# --- Ray ------------------------------------------------------------------------------------------

def test_ray_engine_writes_what_monocap_run_writes(media, random_weights, tmp_path, capsys):
    pytest.importorskip("ray")
    clip, empty = tmp_path / "clip.mp4", tmp_path / "empty.mp4"
    os.link(media / "short_5frames.mp4", clip)
    empty.write_bytes(b"")
    out = tmp_path / "out"
    assert main(["batch", str(clip), str(empty), "-o", str(out), "--engine", "ray", "--workers", "2",
                 "--model", str(random_weights), "--no-overlay", "-q"]) == 1
    rows = manifest_rows(out)
    assert {k: r["status"] for k, r in rows.items()} == {"clip": "ok", "empty": "failed"}
    assert rows["empty"]["error"] == f"{empty}: empty file (0 bytes)"
    assert rows["clip"]["worker"].split(":")[1] != str(os.getpid()), "processed in a Ray worker"
    check_outdir(out, rows)
    assert_same_as_monocap_run(out / "clip", clip, ["--model", str(random_weights), "--no-overlay"],
                               tmp_path / "single")


def test_ray_engine_runs_on_a_cluster_started_apart(media, random_weights, tmp_path):
    """`--address`: a Ray head started by `ray start` (as on a cluster), with token authentication."""
    pytest.importorskip("ray")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Head and client share the token through the environment. Both run as commands of their own: Ray reads
    # its authentication settings once per process.
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    subprocess.run(ray_cli + ["start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                              "--disable-usage-stats"], check=True, capture_output=True, timeout=120, env=env)
    try:
        clip = tmp_path / "clip.mp4"
        os.link(media / "short_5frames.mp4", clip)
        out = tmp_path / "out"
        batch = subprocess.run([sys.executable, "-m", "monocap", "batch", str(clip), "-o", str(out), "--engine", "ray",
                                "--address", f"127.0.0.1:{port}", "--model", str(random_weights), "--no-overlay",
                                "-q"], capture_output=True, text=True, timeout=300, env=env)
        assert batch.returncode == 0, batch.stderr[-2000:]
        rows = manifest_rows(out)
        assert rows["clip"]["status"] == "ok"
        check_outdir(out, rows)
        assert_same_as_monocap_run(out / "clip", clip, ["--model", str(random_weights), "--no-overlay"],
                                   tmp_path / "single")
    finally:
        subprocess.run(ray_cli + ["stop", "--force"], capture_output=True, timeout=120, env=env)


# --- benchmark ------------------------------------------------------------------------------------

def test_bench_batch_measures_throughput_and_memory_per_worker(media, random_weights, tmp_path, capsys):
    out = tmp_path / "batch.json"
    assert main(["bench", "batch", str(media / "short_5frames.mp4"), "--copies", "2", "--workers", "1",
                 "--model", str(random_weights), "--no-overlay", "--json", str(out), "-q"]) == 0
    (run,) = json.loads(out.read_text())["runs"]
    assert run["workers"] == 1 and run["frames"] == 10
    assert run["videos_per_hour"] == pytest.approx(2 * 3600 / run["wall_s"])
    assert run["frames_per_s"] == pytest.approx(10 / run["wall_s"])
    assert len(run["peak_rss_mb_per_worker"]) == 1 and run["peak_rss_mb_per_worker"][0] > 50
    assert "| 1 |" in capsys.readouterr().out


def test_inference_code_never_unpickles():
    """Every np.load outside training says allow_pickle=False, and nothing there calls pickle or torch.load.

    Training reads back only the checkpoints it wrote itself (monocap/train/).
    """
    import ast

    import monocap

    root = Path(monocap.__file__).parent
    checked = 0
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] == "train":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
            where = f"{path.relative_to(root)}:{node.lineno}"
            if (owner, node.func.attr) == ("np", "load"):
                checked += 1
                assert any(k.arg == "allow_pickle" and getattr(k.value, "value", None) is False
                           for k in node.keywords), f"{where}: np.load without allow_pickle=False"
            assert (owner, node.func.attr) not in {("pickle", "load"), ("pickle", "loads"), ("torch", "load")}, where
    assert checked >= 5, "the files that read npz inputs were found"


def test_batch_passes_export_formats_to_every_input(media, random_weights, tmp_path):
    from monocap.io.bvh import read_bvh
    code = main(["batch", str(media / "short_5frames.mp4"), "-o", str(tmp_path / "out"), "--no-overlay",
                 "--export", "bvh,csv", "--model", str(random_weights), "-q"])
    assert code == 0
    folder = tmp_path / "out" / "short_5frames"
    assert read_bvh(folder / "person0.bvh").num_frames == 5
    assert (folder / "person0_angles.csv").read_text().count("\n") == 6  # header + one row per frame
