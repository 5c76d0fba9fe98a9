"""``monocap score PRED TRUTH.npz``: a run's or a lift's 3D poses against ground truth of your own."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..eval.score import MAX_ANGLE_DEG, PREDICTED_POSES, TRUTH_JOINTS

EXAMPLES = """PRED is a `monocap run` output folder (or its poses3d.npz) or a `monocap lift` output; or, with
TRUTH a folder of <name>.npz files, the folder of their runs <name>/ (as `monocap batch` writes
them): each recording's figures, then all pooled (a recording without its run counts as missed).
TRUTH.npz holds poses3d: (T,17,3) or (Q,T,17,3) mm, absolute joints in the camera frame of the
video (x right, y down, z forward), H36M-17 order (--truth-joints mpi_inf_3dhp17: MPI-INF-3DHP's
17 test joints), NaN where a person is absent; optionally
frames (T,): the prediction's frame of each ground-truth frame (default 0..T-1).

Each ground-truth person is matched, frame by frame, to the predicted person whose pelvis lies in
the nearest direction from the camera (within --max-angle degrees); one that no prediction matches
is missed. Matched poses are scored pelvis-relative: P1 (MPJPE), P2 (after Procrustes), N-MPJPE,
PCK3D@150 and AUC, plus the root's error.

examples:
  monocap run S9_Walking.mp4 -o out --focal 1145,1144      # the camera's own focal length helps the root
  monocap score out/S9_Walking truth/S9_Walking.npz
  monocap score out/clip truth.npz --json score.json      # every figure, also per ground-truth person
  monocap score out/TS1 TS1_annot3.npz --truth-joints mpi_inf_3dhp17   # MPI-INF-3DHP test joints
  monocap score out/clip truth.npz --poses detector       # MediaPipe's own 3D (world landmarks) instead
  monocap batch videos/ -o out && monocap score out truths/    # many recordings: truths/<name>.npz
"""


def add_parser(sub, parents):
    p = sub.add_parser("score", parents=parents, help="score a run's 3D poses against your ground truth",
                       description="Score the 3D poses of a run or a lift against ground-truth 3D joints.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prediction", type=Path, metavar="PRED",
                   help="a run folder, its poses3d.npz, a lift output, or a folder of runs")
    p.add_argument("truth", type=Path, metavar="TRUTH.npz",
                   help="ground-truth 3D joints, camera frame; or a folder of them, one per run")
    p.add_argument("--max-angle", type=float, default=MAX_ANGLE_DEG, metavar="DEG",
                   help="largest angle between matched pelvis directions (default: %(default)s)")
    p.add_argument("--truth-joints", choices=tuple(TRUTH_JOINTS), default="h36m17",
                   help="order of the ground truth's 17 joints: H36M-17 or MPI-INF-3DHP's test joints (head_top, "
                        "neck, ..., pelvis, spine, head) (default: %(default)s)")
    p.add_argument("--poses", choices=tuple(PREDICTED_POSES), default="lifter",
                   help="score the lifter's poses, or the 2D backend's own 3D guess that a mediapipe run keeps "
                        "(MediaPipe's world landmarks, at the run's roots) (default: %(default)s)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write every figure to this JSON file")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..eval.score import describe, score_file, score_folders
    from ..io.results import NPZ_NAME
    from ..io.atomic import atomic_output

    if not args.max_angle > 0:
        raise ValueError(f"--max-angle must be positive, got {args.max_angle}")
    if args.truth.is_dir():  # many recordings: RUNS/<name> against TRUTHS/<name>.npz
        if not args.prediction.is_dir() or (args.prediction / NPZ_NAME).is_file():
            raise ValueError(f"{args.truth} is a folder of ground truths: give the folder of their runs, "
                             f"not {args.prediction}")
        figures = score_folders(args.prediction, args.truth, args.truth_joints, args.poses, args.max_angle)
    else:
        figures = score_file(args.prediction, args.truth, args.truth_joints, args.poses, args.max_angle)
    figures |= {"prediction": str(args.prediction), "pose_source": args.poses, "truth": str(args.truth)}
    if not args.quiet:
        print(describe(figures))
    if args.json:
        with atomic_output(args.json) as tmp:
            tmp.write_text(json.dumps(figures, indent=1) + "\n")
    return 0
