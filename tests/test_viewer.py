"""viewer.html in real headless Chromium: it loads offline, steps frames, draws the skeletons, logs no errors.

Chromium is driven through its DevTools protocol over a pipe
(``--remote-debugging-pipe``: JSON messages ending in a NUL byte on file
descriptors 3 and 4), so no client library is needed. Skips where the
Debian ``chromium`` package is not installed (.ci/run installs it).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from monocap.cli import main  # noqa: E402
from monocap.io.results import RunResult  # noqa: E402
from monocap.viz.overlay import track_color  # noqa: E402
from monocap.viz.scene import Scene  # noqa: E402
from monocap.viz.viewer import VIEWER_NAME, viewer_data, write_viewer  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WINDOW = (1000, 700)


class Chromium:
    """Headless Chromium with one page, driven through the DevTools protocol over a pipe."""

    def __init__(self, profile: Path, timeout_s: float = 60.0):
        self.timeout_s = timeout_s
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def child_pipes():  # the browser reads commands on fd 3 and writes answers on fd 4
            read, write = os.dup(to_browser_read), os.dup(from_browser_write)  # neither can be clobbered below
            os.dup2(read, 3)
            os.dup2(write, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", "--no-first-run",
             "--hide-scrollbars", "about:blank"],
            pass_fds=(3, 4), preexec_fn=child_pipes,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=WINDOW[0], height=WINDOW[1],
                  deviceScaleFactor=1, mobile=False)

    def call(self, method: str, session: bool = False, **params) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept in ``events``."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._receive()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self.events.append(answer)

    def wait_for(self, event: str) -> dict:
        while True:
            found = next((e for e in self.events if e.get("method") == event), None)
            if found:
                self.events.remove(found)
                return found
            self.events.append(self._receive())

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self) -> np.ndarray:
        """The page as RGB (H, W, 3) uint8."""
        png = base64.b64decode(self.call("Page.captureScreenshot", session=True, format="png")["data"])
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen so far."""
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params["args"])[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def _receive(self) -> dict:
        deadline = time.monotonic() + self.timeout_s
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise EOFError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian package chromium; .ci/run installs it)")
    browser = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def run_folder(shared_data, random_weights, tmp_path_factory) -> Path:
    """`monocap run` on the 5-frame clip (one person), no overlay."""
    out = tmp_path_factory.mktemp("run")
    assert main(["run", str(shared_data / "media" / "short_5frames.mp4"), "-o", str(out), "--model",
                 str(random_weights), "--no-overlay", "-q"]) == 0
    return out / "short_5frames"


def open_viewer(chromium: Chromium, page: Path) -> None:
    chromium.events.clear()
    chromium.call("Page.navigate", session=True, url=page.resolve().as_uri())
    chromium.wait_for("Page.loadEventFired")


def color_pixels(image: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 12) -> int:
    return int((np.abs(image.astype(int) - rgb).max(axis=-1) <= tolerance).sum())


def test_viewer_plays_the_run_in_chromium(chromium, run_folder):
    page = run_folder / VIEWER_NAME
    assert page.is_file(), "monocap run writes viewer.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text, "self-contained: nothing fetched from the network"
    open_viewer(chromium, page)
    scene = Scene.load(run_folder)
    assert chromium.evaluate("window.monocapViewer.frameCount") == scene.result.frame_count == 5
    assert chromium.evaluate("window.monocapViewer.trackIds") == scene.result.track_ids.tolist()

    color = track_color(scene.result.track_ids[0])
    drawn = []
    for frame in range(5):
        assert chromium.evaluate(f"window.monocapViewer.setFrame({frame})") == frame
        image = chromium.screenshot()
        assert image.shape[:2] == (WINDOW[1], WINDOW[0])
        drawn.append(color_pixels(image, color))
    # Bones 3 px wide over a body about a third of the view high: hundreds of pixels in the person's colour.
    assert min(drawn) > 300, drawn
    assert chromium.evaluate("window.monocapViewer.setFrame(99)") == 4, "frames are clamped to the video"
    assert chromium.errors() == []


def test_viewer_shows_uncertainty_and_nobody_without_errors(chromium, run_folder, tmp_path):
    result = RunResult.load(run_folder)
    spread = np.full(result.poses3d_mm.shape[:-1], 120.0, np.float32)  # a 12 cm spread on every joint
    with_spread = Scene.from_result(result, spread)
    page = write_viewer(with_spread, tmp_path / "uncertain.html")
    without = tmp_path / "plain.html"
    write_viewer(Scene.from_result(result), without)
    data = viewer_data(with_spread, "t")
    assert data["people"][0]["uncertainty"] is not None

    shots = {}
    for name, path in (("with", page), ("without", without)):
        open_viewer(chromium, path)
        chromium.evaluate("window.monocapViewer.setFrame(2)")
        shots[name] = chromium.screenshot().astype(int)
        assert chromium.errors() == [], name
    # The circles (one per joint, 1 px lines) are what differs, and they are drawn in the person's colour.
    changed = np.abs(shots["with"] - shots["without"]).max(axis=-1) > 20
    assert changed.sum() > 300, changed.sum()
    added = shots["with"][changed] - shots["without"][changed]
    color = np.array(track_color(result.track_ids[0]))
    assert np.corrcoef(added.mean(axis=0), color)[0, 1] > 0.9, (added.mean(axis=0), color)

    nobody = Scene.from_result(RunResult(**_empty_fields(result)))
    open_viewer(chromium, write_viewer(nobody, tmp_path / "nobody.html"))
    assert chromium.evaluate("window.monocapViewer.frameCount") == result.frame_count
    assert chromium.evaluate("window.monocapViewer.setFrame(3)") == 3
    assert chromium.errors() == []


def _empty_fields(result: RunResult) -> dict:
    """The fields of ``result`` with zero people."""
    fields = dict(result.__dict__)
    for key in ("poses3d_mm", "root_cam_mm", "keypoints_px", "scores", "detected", "track_ids"):
        fields[key] = fields[key][:0]
    return fields


def test_view_command_prints_or_rebuilds_the_page(run_folder, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run_folder, copy)
    (copy / VIEWER_NAME).unlink()
    assert main(["view", str(copy), "--no-open"]) == 0
    assert capsys.readouterr().out.strip() == str((copy / VIEWER_NAME).resolve())
    assert (copy / VIEWER_NAME).read_text() == (run_folder / VIEWER_NAME).read_text()
    assert main(["view", str(tmp_path / "missing"), "--no-open"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("monocap view: error: ") and "missing" in err[0]
