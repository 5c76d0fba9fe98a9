"""``monocap bench lift``: accuracy of the lifters on real data, and their speed on this CPU.

Three accuracy tables per model, all from ground-truth 2D so that they
measure the lifter alone:

- Human3.6M S8 (or the subjects of ``--subjects``: S9 and S11, the
  standard test subjects, in a user's own copy), the 4 real cameras: world joints projected with each
  camera's full model (lens distortion included). The lifter gets what a
  user's file would give it: pixels, fx, fy, cx, cy and the image size,
  through the file contract (`validate_lift_input` → `lift_arrays`, the
  path `lift_file` takes); never the distortion. One row per action
  (takes such as "Walking" and "Walking 1" pooled), and the mean over actions.
- The open mocap test split (CMU, HDM05), seen by fixed virtual cameras:
  one row per source and their mean. Only frames with every joint in view
  are scored; the others go in with scores 0 for the joints out of view.

Errors are Protocol 1 (P1: MPJPE after aligning the pelvis) and Protocol 2
(P2: MPJPE after Procrustes alignment), in mm, single-frame and temporal
(centred), plus the median error of the estimated root depth in % of the
true depth. Temporal lifting always sees every frame (50 Hz) of a sequence;
``--stride N`` scores every Nth frame, and single-frame lifting then lifts
only those.

Throughput is poses per second through `Lifter`, after a warm-up.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..camera import Camera, Intrinsics
from ..io.h36m import FPS as H36M_FPS
from ..io.h36m import SUBJECT_HOLDOUT, SUBJECTS_TRAIN, load_h36m_cameras, load_h36m_poses
from ..io.mocap_dataset import load_open_mocap
from ..lift.contract import lift_arrays, validate_lift_input
from ..lift.lifter import Lifter, model_path
from ..skeleton import H36M17
from .metrics import auc3d, mpjpe, n_mpjpe, pa_mpjpe, pck3d

NAME = "lift"
HELP = "accuracy (H36M S8 or other subjects, open mocap) and speed of the 2D→3D lifters"
EXAMPLES = """examples:
  monocap bench lift                                  # both shipped models, every frame
  monocap bench lift --models default --max-frames 200 --json bench.json
  monocap bench lift --models runs/h36m_holdout.npz   # a weight file of your own
  monocap bench lift --flip-test --stride 5           # accuracy as `monocap run` lifts (mirror image averaged in)
  monocap bench lift --causal --parts h36m            # temporal columns from past frames only, as live lifting
  monocap bench lift --subjects S9,S11 --data-root ~/data --parts h36m   # the standard test subjects, your own copy
"""

# The 15 Human3.6M actions as the data names them (the literature's TakingPhoto,
# WalkingDog and WalkingTogether are Photo, WalkDog and WalkTogether here).
H36M_ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
                "Sitting", "SittingDown", "Smoking", "Waiting", "Walking", "WalkDog", "WalkTogether")
# The subjects scored by default: S8, the validation subject. S9 and S11, the standard protocols' test
# subjects, are not in shared/data; `--subjects` scores them in a copy that has them (same file formats).
H36M_SUBJECTS = (SUBJECT_HOLDOUT,)
MOCAP_FPS = 50.0
MOCAP_SOURCES = ("cmu", "hdm05")

# Virtual cameras for the mocap clips: around the clip's mean pelvis position,
# at eye height above its floor, like a tripod in a room.
VIRTUAL_YAWS_DEG = (0.0, 90.0, 180.0, 270.0)
VIRTUAL_DISTANCE_MM = 4000.0
VIRTUAL_HEIGHT_MM = 1500.0
VIRTUAL_IMAGE = (1920, 1080)
VIRTUAL_HFOV_DEG = 55.0
MIN_DEPTH_MM = 100.0  # joints nearer than this (or behind the camera) count as out of view

THROUGHPUT_POSES = 100_000
THROUGHPUT_SEQUENCE = 2000  # frames per sequence in the temporal speed test
THROUGHPUT_REPEATS = 3
MODES = ("single", "temporal")
PARTS = ("h36m", "mocap", "speed")


@dataclass(frozen=True)
class Take:
    """One sequence seen by one camera, the unit that is lifted.

    keypoints_px: (T, 17, 2) ground-truth 2D, H36M17, pixels (0 where out of view).
    scores: (T, 17) 1 for joints in view, else 0.
    gt_cam_mm: (T, 17, 3) true joints in the camera frame, mm.
    scored: (T,) frames with every joint in view: only these are scored.
    up_cam: (3,) the world's up direction in the camera frame.
    """

    label: str  # for messages, e.g. "S8/Walking 1 camera 54138969"
    group: str  # the table row: an action or a mocap source
    keypoints_px: np.ndarray
    scores: np.ndarray
    gt_cam_mm: np.ndarray
    scored: np.ndarray
    intrinsics: Intrinsics
    fps: float
    up_cam: np.ndarray

    @classmethod
    def observe(cls, label: str, group: str, joints_world_mm: np.ndarray, camera: Camera, fps: float,
                inside_image_only: bool, world_up: tuple[float, float, float]) -> "Take":
        """Project (T, 17, 3) world joints with `camera` (distortion included); `world_up` in world coordinates.

        Joints behind the camera are out of view, and so, if ``inside_image_only``,
        are those projecting outside the image.
        """
        gt = camera.world_to_camera(np.asarray(joints_world_mm, dtype=np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            px = camera.intrinsics.project(gt)
        intr = camera.intrinsics
        in_view = (gt[..., 2] > MIN_DEPTH_MM) & np.isfinite(px).all(-1)
        if inside_image_only:
            in_view &= (px >= 0).all(-1) & (px[..., 0] < intr.width) & (px[..., 1] < intr.height)
        px = np.where(in_view[..., None], px, 0.0)
        pinhole = replace(intr, dist=(0.0,) * 5)  # a user's file has no distortion to give either
        return cls(label, group, px, in_view.astype(np.float64), gt, in_view.all(-1), pinhole, fps,
                   camera.R @ np.asarray(world_up, dtype=np.float64))

    def every(self, stride: int) -> "Take":
        """Every `stride`-th frame."""
        s = slice(None, None, stride)
        return replace(self, keypoints_px=self.keypoints_px[s], scores=self.scores[s], gt_cam_mm=self.gt_cam_mm[s],
                       scored=self.scored[s], fps=self.fps / stride)

    def contract_arrays(self) -> dict[str, np.ndarray]:
        """The take as a ``monocap lift`` input file would hold it."""
        intr = self.intrinsics
        return {"keypoints": self.keypoints_px, "scores": self.scores, "joint_format": np.array("h36m17"),
                "image_size": np.array([intr.width, intr.height]), "focal": np.array([intr.fx, intr.fy]),
                "center": np.array([intr.cx, intr.cy]), "fps": np.array(self.fps)}


# Per-pose figures a table row pools: name → (metric of (pred root-relative, gt absolute), factor to its unit).
POSE_METRICS = {
    "p1_mm": (lambda pred, gt: mpjpe(pred, gt, root=0), 1.0),
    "p2_mm": (pa_mpjpe, 1.0),
    "n_p1_mm": (n_mpjpe, 1.0),  # P1 after the least-squares scale: error in the pose's shape, not its size
    "pck150_pct": (pck3d, 100.0),  # joints within 150 mm after aligning the pelvis
    "auc_pct": (auc3d, 100.0),  # PCK averaged over 0, 5, ..., 150 mm (MPI-INF-3DHP's AUC)
}


@dataclass
class RowErrors:
    """Per-pose figures (`POSE_METRICS` and the root depth error) pooled over the takes of one table row."""

    per_pose: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {k: [] for k in (*POSE_METRICS, "root_depth_pct")})

    def add(self, pred_mm: np.ndarray, root_cam_mm: np.ndarray, gt_cam_mm: np.ndarray) -> None:
        """pred_mm (N, 17, 3) root-relative, root_cam_mm (N, 3), gt_cam_mm (N, 17, 3) absolute."""
        for name, (metric, unit) in POSE_METRICS.items():
            self.per_pose[name].append(unit * metric(pred_mm, gt_cam_mm))
        true_depth = gt_cam_mm[:, 0, 2]
        self.per_pose["root_depth_pct"].append(100.0 * np.abs(root_cam_mm[:, 2] - true_depth) / true_depth)

    @property
    def poses(self) -> int:
        return sum(len(a) for a in self.per_pose["p1_mm"])

    @classmethod
    def pool(cls, rows: list["RowErrors"]) -> "RowErrors":
        return cls({k: sum((r.per_pose[k] for r in rows), []) for k in rows[0].per_pose})

    def summary(self) -> dict:
        """Poses, the mean of each `POSE_METRICS` figure and the median root depth error (%)."""
        values = {k: np.concatenate(v) for k, v in self.per_pose.items()}
        return {"poses": len(values["p1_mm"]), **{k: float(values[k].mean()) for k in POSE_METRICS},
                "root_depth_err_median_pct": float(np.median(values["root_depth_pct"]))}


def h36m_takes(h36m_root: Path, max_frames: int | None, subjects: tuple[str, ...] = H36M_SUBJECTS) -> list[Take]:
    """Every sequence of ``subjects`` through each of the subject's 4 cameras.

    As in the standard protocols every frame counts, even with a hand or foot
    just outside the image (its true 2D is still given). A subject without
    cameras or sequences in the files is an error that names the file.
    """
    cameras = load_h36m_cameras(h36m_root)
    missing = [s for s in subjects if s not in cameras]
    if missing:
        raise ValueError(f"{Path(h36m_root) / 'cameras.json'}: no cameras for {', '.join(missing)} "
                         f"(it has {', '.join(cameras) or 'none'})")
    sequences = load_h36m_poses(h36m_root, subjects)
    missing = [s for s in subjects if s not in {seq.subject for seq in sequences}]
    if missing:
        raise ValueError(f"{Path(h36m_root) / 'poses3d_world_mm.npz'}: no sequences of {', '.join(missing)}")
    return [Take.observe(f"{seq.subject}/{seq.action} camera {cam.name}", seq.action_class,
                         seq.joints_world_mm[:max_frames], cam, H36M_FPS, inside_image_only=False,
                         world_up=(0.0, 0.0, 1.0))
            for seq in sequences for cam in cameras[seq.subject]]


def mocap_takes(mocap_root: Path, max_frames: int | None) -> list[Take]:
    """Every open mocap test clip through each virtual camera."""
    takes = []
    for clip in load_open_mocap(mocap_root, "test", fps=MOCAP_FPS):
        joints = np.asarray(clip.joints_world_mm[:max_frames, :len(H36M17)], dtype=np.float64)
        for cam in virtual_cameras(joints):
            takes.append(Take.observe(f"{clip.source}/{clip.name} {cam.name}", clip.source, joints, cam, MOCAP_FPS,
                                      inside_image_only=True, world_up=(0.0, 1.0, 0.0)))
    return takes


def virtual_cameras(joints_world_mm: np.ndarray) -> list[Camera]:
    """Fixed cameras around a clip's (T, J, 3) Y-up world joints (`VIRTUAL_*`), looking at its mean pelvis."""
    target = joints_world_mm[:, 0].mean(0)
    floor = joints_world_mm[..., 1].min()
    intr = Intrinsics.from_fov(*VIRTUAL_IMAGE, VIRTUAL_HFOV_DEG)
    cameras = []
    for yaw in VIRTUAL_YAWS_DEG:
        a = np.radians(yaw)
        eye = target + [VIRTUAL_DISTANCE_MM * np.sin(a), 0.0, VIRTUAL_DISTANCE_MM * np.cos(a)]
        eye[1] = floor + VIRTUAL_HEIGHT_MM
        cameras.append(look_at(eye, target, intr, f"yaw {yaw:.0f}"))
    return cameras


def look_at(eye: np.ndarray, target: np.ndarray, intrinsics: Intrinsics, name: str) -> Camera:
    """Camera at `eye` (mm, Y-up world) looking at `target`, image rows along the world's down direction."""
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])  # rows: camera x right, y down, z forward in world coordinates
    return Camera(intrinsics, R, -R @ eye, name)


def accuracy(lifter: Lifter, takes: list[Take], rows: tuple[str, ...], stride: int, quiet: bool,
             desc: str, flip_test: bool = False, causal: bool = False) -> dict:
    """P1/P2/root depth per row and mode, the unweighted mean over the rows that have poses, and all pooled.

    ``causal``: the "temporal" mode lifts with past frames only, as live lifting does.

    Returns {mode: {"rows": {row: summary}, "mean_over_rows": {...}, "all_poses": summary}}, see `RowErrors.summary`.
    """
    from tqdm import tqdm

    # `rows` fixes the order; groups it does not name (a user's own data) follow it.
    errors = {mode: {row: RowErrors() for row in rows} for mode in MODES}
    for take in tqdm(takes, desc=desc, disable=quiet, file=sys.stderr, leave=False):
        scored = take.every(stride)
        for mode in MODES:
            if mode == "temporal":
                # Temporal context needs the full-rate sequence; only every stride-th frame is scored.
                out = _lift(take, lifter, True, flip_test, causal)
                poses, root = out["poses3d"][::stride], out["root_cam_mm"][::stride]
            else:
                out = _lift(scored, lifter, False, flip_test)
                poses, root = out["poses3d"], out["root_cam_mm"]
            m = scored.scored
            errors[mode].setdefault(take.group, RowErrors()).add(poses[m], root[m], scored.gt_cam_mm[m])
    if not any(e.poses for e in errors["single"].values()):
        raise ValueError(f"{desc}: no frame to score")
    table = {}
    for mode in MODES:
        present = {row: e.summary() for row, e in errors[mode].items() if e.poses}
        mean = {k: float(np.mean([s[k] for s in present.values()])) for k in POSE_METRICS}
        table[mode] = {"rows": present, "mean_over_rows": mean,
                       "all_poses": RowErrors.pool(list(errors[mode].values())).summary()}
    return table


def _lift(take: Take, lifter: Lifter, temporal: bool, flip_test: bool, causal: bool = False) -> dict:
    """Through the file contract, exactly as `lift_file` does after reading the file."""
    return lift_arrays(validate_lift_input(take.contract_arrays(), source=take.label), lifter, temporal=temporal,
                       causal=causal, flip_test=flip_test)


def throughput(lifter: Lifter, take: Take) -> dict:
    """Poses per second, single-frame (one batch) and temporal (sequences), after a warm-up.

    The best of `THROUGHPUT_REPEATS` runs, since other work on a shared CPU only ever slows a run down.
    """
    kp = np.resize(take.keypoints_px, (THROUGHPUT_POSES, *take.keypoints_px.shape[1:]))
    lifter(kp[:4096], None, take.intrinsics, temporal=False)  # page in weights, start the thread pools
    out = {}
    for mode, batch in (("single", kp), ("temporal", kp.reshape(-1, THROUGHPUT_SEQUENCE, *kp.shape[1:]))):
        seconds = []
        for _ in range(THROUGHPUT_REPEATS):
            t0 = time.perf_counter()
            lifter(batch, None, take.intrinsics, temporal=mode == "temporal")
            seconds.append(time.perf_counter() - t0)
        out[f"{mode}_poses_per_s"] = THROUGHPUT_POSES / min(seconds)
    return out


def numpy_threads() -> str:
    """The BLAS thread count numpy's matrix products use."""
    try:
        from threadpoolctl import threadpool_info
        return ", ".join(f"{i['num_threads']} ({i['internal_api']})" for i in threadpool_info()
                         if i["user_api"] == "blas")
    except ImportError:  # not a dependency: fall back to the variables BLAS libraries read
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            if os.environ.get(var):
                return f"{os.environ[var]} ({var})"
        return f"{os.cpu_count()} (BLAS default: one per CPU core)"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def training_note(lifter: Lifter, subjects: tuple[str, ...] = H36M_SUBJECTS) -> str:
    """Whether the scored subjects were in the weights' training data, from the weight file's config."""
    info = lifter.info
    if info.get("data") == "open":
        return "zero-shot: trained on open mocap only, never saw Human3.6M"
    if info.get("data") == "h36m":
        trained = set(SUBJECTS_TRAIN) - ({SUBJECT_HOLDOUT} if info.get("holdout") else set())
        seen = [s for s in subjects if s in trained]
        if seen:
            return f"{', '.join(seen)} WAS TRAINED ON (holdout {bool(info.get('holdout'))}): a fit check, not a test"
        if subjects == (SUBJECT_HOLDOUT,):
            return f"{SUBJECT_HOLDOUT} held out from training (honest validation)"
        return f"{', '.join(subjects)} never in training (an honest test)"
    return "training data unknown (the weight file records no 'data'/'holdout')"


def add_subjects_argument(p) -> None:
    p.add_argument("--subjects", type=subjects_argument, default=H36M_SUBJECTS, metavar="LIST",
                   help="Human3.6M subjects to score, comma-separated (default: S8; S9,S11 are the standard test "
                        "subjects, for a --data-root copy that has them)")


def subjects_argument(text: str) -> tuple[str, ...]:
    """The ``--subjects`` option: distinct names such as S9, in the order given."""
    subjects = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    if not subjects or any(not (s[:1] == "S" and s[1:].isdigit()) for s in subjects):
        raise argparse.ArgumentTypeError(f"give subjects such as S9,S11, not {text!r}")
    return subjects


def h36m_key(subjects: tuple[str, ...]) -> str:
    """The figures' key of a Human3.6M table: "h36m_s8" for S8, "h36m_s9_s11" for S9 and S11."""
    return "h36m_" + "_".join(s.lower() for s in subjects)


# -- the command ------------------------------------------------------------------------------------

def add_arguments(p) -> None:
    p.add_argument("--models", default="default,h36m", help="comma-separated model names or weight files "
                   "(default: %(default)s)")
    p.add_argument("--max-frames", type=int, metavar="N", help="only the first N frames of each sequence (quick runs)")
    p.add_argument("--stride", type=int, default=1, metavar="N",
                   help="score every Nth frame (default %(default)s: every frame); temporal lifting still sees all")
    p.add_argument("--parts", default=",".join(PARTS), help="which tables, comma-separated (default: %(default)s)")
    p.add_argument("--flip-test", action="store_true",
                   help="accuracy with the mirror image's lift averaged in, as `monocap run` lifts (not the throughput)")
    p.add_argument("--causal", action="store_true",
                   help="the temporal columns from the causal lifter (past frames only), as live lifting lifts")
    add_subjects_argument(p)


def run(args) -> dict:
    """Print the tables; return every figure (for ``--json``)."""
    if args.stride < 1 or (args.max_frames is not None and args.max_frames < 1):
        raise ValueError("--stride and --max-frames must be positive")
    parts = selected_parts(args.parts, PARTS)
    names = model_names(args.models)
    lifters = [Lifter(name) for name in names]
    root = Path(args.data_root)
    t_start = time.perf_counter()
    sampling = ("every frame" if args.stride == 1 else f"one frame in {args.stride} (--stride)") + \
        ("" if args.max_frames is None else f" of the first {args.max_frames} of each sequence (--max-frames)") + \
        (", flip test (--flip-test)" if args.flip_test else "") + \
        (", temporal = causal (--causal)" if args.causal else "")
    subjects, key = args.subjects, h36m_key(args.subjects)
    figures = {"settings": {"data_root": str(root), "stride": args.stride, "max_frames": args.max_frames,
                            "flip_test": args.flip_test, "causal": args.causal, "subjects": list(subjects),
                            "models": {lf.model_name: {k: lf.info.get(k) for k in ("data", "holdout", "licence")}
                                       for lf in lifters}}}

    # The speed test lifts the first take; the mocap table alone needs none.
    h36m = h36m_takes(root / "h36m", args.max_frames, subjects) if {"h36m", "speed"} & set(parts) else []
    names_h36m = ", ".join(subjects)
    if "h36m" in parts:
        figures[key] = {}
    for lf in lifters if "h36m" in parts else ():
        table = accuracy(lf, h36m, H36M_ACTIONS, args.stride, args.quiet, f"H36M {names_h36m} {lf.model_name}",
                         args.flip_test, args.causal)
        figures[key][lf.model_name] = dict(table, note=training_note(lf, subjects))
        _print_table(f"Human3.6M {names_h36m}, 4 real cameras, ground-truth 2D (projected with lens distortion; "
                     f"the lifter gets pinhole intrinsics only), {sampling}\n"
                     f"model {lf.model_name}: {training_note(lf, subjects)}", "action", table)

    if "mocap" in parts:
        mocap = mocap_takes(root / "mocap", args.max_frames)
        figures["open_mocap_test"] = {}
        for lf in lifters:
            table = accuracy(lf, mocap, MOCAP_SOURCES, args.stride, args.quiet, f"open mocap {lf.model_name}",
                             args.flip_test, args.causal)
            figures["open_mocap_test"][lf.model_name] = table
            _print_table(f"open mocap test split, {len(VIRTUAL_YAWS_DEG)} virtual cameras "
                         f"({VIRTUAL_DISTANCE_MM / 1000:g} m away, {VIRTUAL_HEIGHT_MM / 1000:g} m high, "
                         f"{VIRTUAL_IMAGE[0]}x{VIRTUAL_IMAGE[1]}, {VIRTUAL_HFOV_DEG:g} deg), ground-truth 2D, "
                         f"{sampling}, frames with every joint in view\nmodel {lf.model_name}", "source", table)

    if "speed" in parts:
        figures["throughput"] = {}
        for lf in lifters:
            figures["throughput"][lf.model_name] = speed = dict(
                throughput(lf, h36m[0]), poses=THROUGHPUT_POSES, cpu=cpu_name(), cpus=os.cpu_count(),
                onnxruntime_threads=lf.model.threads)
            print(f"\nthroughput, model {lf.model_name}: {THROUGHPUT_POSES} poses through Lifter after a warm-up, "
                  f"best of {THROUGHPUT_REPEATS}\n{speed['cpu']}, {speed['cpus']} CPUs; network in onnxruntime, "
                  f"{speed['onnxruntime_threads']} threads\n"
                  f"  single-frame (one batch)           {speed['single_poses_per_s']:10.0f} poses/s\n"
                  f"  temporal ({THROUGHPUT_SEQUENCE}-frame sequences)  {speed['temporal_poses_per_s']:10.0f} poses/s")
    figures["wall_s"] = time.perf_counter() - t_start
    print(f"\nbench lift took {figures['wall_s']:.0f} s")
    return figures


def selected_parts(text: str, known: tuple[str, ...]) -> list[str]:
    """The ``--parts`` option: a comma-separated, non-empty subset of ``known``."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or set(parts) - set(known):
        raise ValueError(f"--parts takes a comma-separated subset of {','.join(known)}, not {text!r}")
    return parts


def model_names(text: str) -> list[str]:
    """The ``--models`` option: distinct names or weight files, each checked to exist before the first table."""
    names = list(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    for name in names:
        if not model_path(name).is_file():
            raise FileNotFoundError(f"{model_path(name)}: weights of model {name!r} not found (not trained yet?)")
    return names


def _print_table(title: str, row_name: str, table: dict) -> None:
    """One line per row: poses scored, then P1 and P2 (mm) single-frame and temporal."""
    single, temporal = table["single"], table["temporal"]
    print(f"\n{title}")
    print(f"{row_name:<14}{'poses':>8}  {'P1 single':>10}{'P2 single':>10}  {'P1 temp.':>10}{'P2 temp.':>10}   (mm)")
    lines = [(row, s["poses"], s, temporal["rows"][row]) for row, s in single["rows"].items()]
    lines.append((f"mean of {len(lines)}", single["all_poses"]["poses"], single["mean_over_rows"],
                  temporal["mean_over_rows"]))
    for row, poses, s, t in lines:
        print(f"{row:<14}{poses:>8}  {s['p1_mm']:>10.1f}{s['p2_mm']:>10.1f}  {t['p1_mm']:>10.1f}{t['p2_mm']:>10.1f}")
    for mode, figures in (("single", single), ("temporal", temporal)):
        mean = figures["mean_over_rows"]
        print(f"mean of {len(lines) - 1}, {mode}: N-MPJPE {mean['n_p1_mm']:.1f} mm, "
              f"PCK3D@150 {mean['pck150_pct']:.1f} %, AUC {mean['auc_pct']:.1f} %")
    print(f"root depth error, median over all poses: single {single['all_poses']['root_depth_err_median_pct']:.1f}%, "
          f"temporal {temporal['all_poses']['root_depth_err_median_pct']:.1f}% of the true depth")
