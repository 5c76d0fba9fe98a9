"""``monocap bench fit``: what skeleton fitting (`monocap.fit.skeleton`) does to lifted motion.

The same takes as ``monocap bench lift`` (`h36m_takes`, `mocap_takes`:
Human3.6M S8 through its 4 real cameras, the held-out open mocap clips
through 4 virtual cameras, ground-truth 2D), each lifted as ``monocap run``
lifts a track: the centred temporal lifter, the robust perspective root fit
and the forward-backward One-Euro filter on the roots. The plain lifter is
the reference; ``--flip-test`` averages in its mirror image's lift, as
``monocap run`` does by default. Then `fit_person`
fits the whole take. Before = the lifted joints, after = the fitted ones;
both are absolute, in the camera frame.

Figures per take, averaged over the takes of a row (action or mocap source):

- P1 / P2 (mm): MPJPE after aligning the pelvis / after Procrustes, over the
  frames with every joint in view;
- bone std (mm): standard deviation of each bone's length over the take,
  mean over the 16 bones;
- accel (mm/frame²): mean per-joint error of the second differences,
  pelvis-relative (`metrics.accel_error`), every frame;
- skate (mm/frame): mean horizontal motion of an ankle between consecutive
  frames in which the TRUE ankle stands on the floor (`ground.foot_skate_mm`;
  horizontal = perpendicular to the true up direction; true contacts by
  `ground.detect_contacts` on the ground-truth ankles: within a quarter shin
  of the lowest ankle level and slower than 0.5 m/s). This includes the
  root's motion: it is what a viewer of the motion sees.

Targets (issue 4): P1 worsens by at most 2 mm, bone std becomes 0, accel
falls by at least 30 %, skate by at least 50 %.
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..fit.ground import FEET, detect_contacts, foot_skate_mm
from ..fit.root import place_roots
from ..fit.skeleton import FitConfig, fit_person
from ..lift.lifter import Lifter
from ..skeleton import H36M17
from .bench_lift import (H36M_ACTIONS, MOCAP_SOURCES, Take, add_subjects_argument, h36m_key, h36m_takes, mocap_takes,
                         model_names, selected_parts, training_note)
from .metrics import accel_error, bone_length_std, mpjpe, pa_mpjpe

NAME = "fit"
HELP = "skeleton fitting: P1/P2, bone-length std, acceleration error and foot skate before/after"
EXAMPLES = """examples:
  monocap bench fit                                   # default model, H36M S8 and open mocap, every frame
  monocap bench fit --max-frames 500 --parts h36m     # a quick run
  monocap bench fit --models default,h36m --json fit.json
  monocap bench fit --flip-test --max-frames 500      # lifted as `monocap run` lifts by default
"""
PARTS = ("h36m", "mocap")
FIGURES = ("p1_mm", "p2_mm", "bone_std_mm", "accel_mm", "skate_mm")
TARGETS = {"p1_mm": "after <= before + 2", "bone_std_mm": "after = 0", "accel_mm": "after <= 0.7 x before",
           "skate_mm": "after <= 0.5 x before"}


def lift_like_run(take: Take, lifter: Lifter, flip_test: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(poses3d_mm (T,17,3) pelvis-relative, root_cam_mm (T,3)) as `monocap run` makes them for a track."""
    out = lifter(take.keypoints_px, take.scores, take.intrinsics, "h36m17", temporal=True, fps=take.fps,
                 flip_test=flip_test)
    poses = out.poses3d_mm.astype(np.float64)
    return poses, place_roots(poses, take.keypoints_px, take.scores, take.intrinsics, "h36m17", take.fps)


def true_contacts(take: Take) -> np.ndarray:
    """(T, 2) bool: left/right ground-truth ankle on the floor."""
    ankles = take.gt_cam_mm[:, FEET]
    heights = ankles @ take.up_cam
    shin = np.median(np.linalg.norm(take.gt_cam_mm[:, H36M17.index("r_ankle")]
                                    - take.gt_cam_mm[:, H36M17.index("r_knee")], axis=-1))
    return detect_contacts(heights - np.percentile(heights.min(1), 5), ankles, take.fps, shin)


def score_take(take: Take, lifter: Lifter, config: FitConfig, flip_test: bool = False) -> dict:
    """Before/after figures of one take (see the module docstring), and the fitting time."""
    poses, root = lift_like_run(take, lifter, flip_test)
    start = time.perf_counter()
    fitted = fit_person(poses, root, take.keypoints_px, take.scores, take.intrinsics, take.fps,
                        config=config, joint_format="h36m17")
    seconds = time.perf_counter() - start
    gt, contacts, m = take.gt_cam_mm, true_contacts(take), take.scored
    out = {"frames": len(gt), "fit_s": seconds}
    for name, pred in (("before", fitted.raw_cam_mm), ("after", fitted.positions_cam_mm)):
        out[name] = {"p1_mm": mpjpe(pred[m], gt[m], root=0, reduce=True),
                     "p2_mm": pa_mpjpe(pred[m], gt[m], reduce=True),
                     "bone_std_mm": bone_length_std(pred, reduce=True),
                     "accel_mm": accel_error(pred, gt, reduce=True),
                     "skate_mm": foot_skate_mm(pred[:, FEET], contacts, take.up_cam)}
    return out


def score(takes: list[Take], lifter: Lifter, config: FitConfig, rows: tuple[str, ...], quiet: bool,
          desc: str, flip_test: bool = False) -> dict:
    """Per row the mean over its takes of every figure, before and after; the mean over rows; totals."""
    from tqdm import tqdm

    per_row: dict[str, list[dict]] = {row: [] for row in rows}
    for take in tqdm(takes, desc=desc, disable=quiet, file=sys.stderr, leave=False):
        if take.scored.any() and len(take.keypoints_px) >= 3:
            per_row.setdefault(take.group, []).append(score_take(take, lifter, config, flip_test))
    table = {}
    for row, results in per_row.items():
        if results:
            table[row] = {"takes": len(results), "frames": sum(r["frames"] for r in results),
                          **{when: {f: float(np.nanmean([r[when][f] for r in results])) for f in FIGURES}
                             for when in ("before", "after")}}
    if not table:
        raise ValueError(f"{desc}: no take to score")
    mean = {when: {f: float(np.nanmean([t[when][f] for t in table.values()])) for f in FIGURES}
            for when in ("before", "after")}
    frames = sum(t["frames"] for t in table.values())
    seconds = sum(r["fit_s"] for results in per_row.values() for r in results)
    return {"rows": table, "mean_over_rows": mean, "frames": frames, "fit_s": seconds,
            "fit_frames_per_s": frames / seconds}


# -- the command ------------------------------------------------------------------------------------

def add_arguments(p) -> None:
    p.add_argument("--models", default="default", help="comma-separated model names or weight files "
                   "(default: %(default)s, the open-data model, zero-shot on H36M)")
    p.add_argument("--max-frames", type=int, metavar="N", help="only the first N frames of each sequence (quick runs)")
    p.add_argument("--stride", type=int, default=1, metavar="N",
                   help="keep every Nth frame: lift and fit at 1/N of the frame rate (default %(default)s)")
    p.add_argument("--parts", default=",".join(PARTS), help="which tables, comma-separated (default: %(default)s)")
    p.add_argument("--flip-test", action="store_true",
                   help="lift with the mirror image averaged in, as `monocap run` does by default (a smoother "
                        "'before', so smaller relative gains)")
    add_subjects_argument(p)


def run(args) -> dict:
    """Print the tables; return every figure (for ``--json``)."""
    if args.stride < 1 or (args.max_frames is not None and args.max_frames < 3):
        raise ValueError("--stride must be positive and --max-frames at least 3")
    parts = selected_parts(args.parts, PARTS)
    names = model_names(args.models)
    lifters = [Lifter(name) for name in names]
    config = FitConfig()
    root = Path(args.data_root)
    t_start = time.perf_counter()
    sampling = ("every frame" if args.stride == 1 else f"every {args.stride}th frame (--stride)") + \
        ("" if args.max_frames is None else f" of the first {args.max_frames} of each sequence (--max-frames)") + \
        (", lifted with the flip test (--flip-test)" if args.flip_test else "")
    figures = {"settings": {"data_root": str(root), "stride": args.stride, "max_frames": args.max_frames,
                            "flip_test": args.flip_test, "subjects": list(args.subjects), "fit_config": asdict(config)}}
    h36m = h36m_key(args.subjects)
    sets = []
    if "h36m" in parts:
        sets.append((h36m, f"Human3.6M {', '.join(args.subjects)}, 4 real cameras, ground-truth 2D", "action",
                     H36M_ACTIONS, h36m_takes(root / "h36m", args.max_frames, args.subjects)))
    if "mocap" in parts:
        sets.append(("open_mocap_test", "open mocap test split, 4 virtual cameras, ground-truth 2D", "source",
                     MOCAP_SOURCES, mocap_takes(root / "mocap", args.max_frames)))
    for key, title, row_name, rows, takes in sets:
        takes = [t.every(args.stride) for t in takes]
        figures[key] = {}
        for lf in lifters:
            table = score(takes, lf, config, rows, args.quiet, f"{key} {lf.model_name}", args.flip_test)
            # The mocap test split is held out from every shipped model's training.
            note = training_note(lf, args.subjects) if key == h36m else "held-out test split"
            figures[key][lf.model_name] = dict(table, note=note)
            _print_table(f"{title}, {sampling}\nmodel {lf.model_name}: {note}", row_name, table)
    figures["wall_s"] = time.perf_counter() - t_start
    print(f"\ntargets: P1 {TARGETS['p1_mm']}; bone std {TARGETS['bone_std_mm']}; accel {TARGETS['accel_mm']}; "
          f"skate {TARGETS['skate_mm']}\nbench fit took {figures['wall_s']:.0f} s")
    return figures


def _print_table(title: str, row_name: str, table: dict) -> None:
    """One line per row: before → after for every figure."""
    print(f"\n{title}")
    print("before → after; P1, P2, bone std in mm; accel in mm/frame²; skate in mm/frame of horizontal ankle motion "
          "during true foot contacts")
    head = "".join(f"{h:>16}" for h in ("P1", "P2", "bone std", "accel", "skate"))
    print(f"{row_name:<14}{'frames':>8}{head}")
    lines = [(row, t["frames"], t) for row, t in table["rows"].items()]
    lines.append((f"mean of {len(lines)}", table["frames"], table["mean_over_rows"]))
    for row, frames, t in lines:
        cells = "".join(f"{t['before'][f]:>8.1f}→{t['after'][f]:<7.1f}" for f in FIGURES)
        print(f"{row:<14}{frames:>8}{cells}")
    mean = table["mean_over_rows"]
    b, a = mean["before"], mean["after"]
    verdict = {
        "P1": a["p1_mm"] <= b["p1_mm"] + 2, "bone std": a["bone_std_mm"] < 1e-3,
        "accel": a["accel_mm"] <= 0.7 * b["accel_mm"], "skate": a["skate_mm"] <= 0.5 * b["skate_mm"]}
    print("targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in verdict.items())
          + f"; accel {100 * (1 - a['accel_mm'] / b['accel_mm']):.0f} % lower, skate "
            f"{100 * (1 - a['skate_mm'] / b['skate_mm']):.0f} % lower; fitting {table['fit_frames_per_s']:.0f} frames/s")
