"""``monocap lift``: 2D keypoints (.npz, pixels) → 3D poses (.npz, mm); see `monocap.lift.contract`."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..lift.contract import lift_file
from ..lift.diffusion import HypothesisLifter
from ..lift.lifter import Lifter

EXAMPLES = """input keys:  keypoints (T,J,2) or (P,T,J,2) pixels, joint_format (h36m17|coco17|blazepose33),
             image_size (width, height); optional: scores (...,J) in [0,1], focal (fx, fy),
             center (cx, cy), fps. Without focal: 55 degree horizontal field of view.
output keys: poses3d (...,T,17,3) mm camera frame, pelvis-relative; root_cam_mm (...,T,3);
             joint_names, focal, center, image_size, model, licence, temporal, causal, flip_test.
             The mirror image's lift is averaged in by default (flip test: ~1 mm lower error on
             Human3.6M, twice the network's time); --no-flip-test lifts the keypoints as given only.
             Absolute joints: poses3d + root_cam_mm[..., None, :].
             With --hypotheses M: hypotheses (M,...,T,17,3) mm drawn from the diffusion prior, guided
             by the keypoints; poses3d is their per-joint mean, uncertainty_mm (...,T,17) their spread.
             With --skeleton: poses3d and root_cam_mm are each person's sequence fitted to one
             skeleton (constant bones, joint limits, smooth, on the keypoints, feet on the floor),
             plus bone_lengths_mm (...,16).

examples:
  monocap lift keypoints.npz poses3d.npz                  # default (open data) model, temporal
  monocap lift keypoints.npz poses3d.npz --single         # each frame on its own
  monocap lift keypoints.npz poses3d.npz --causal         # past frames only, as a live system would
  monocap lift keypoints.npz poses3d.npz --no-flip-test   # without the mirror image's lift (half the time)
  monocap lift keypoints.npz poses3d.npz --model h36m     # Human3.6M model: non-commercial research only
  monocap lift keypoints.npz poses3d.npz --model my_weights.npz
  monocap lift keypoints.npz poses3d.npz --hypotheses 10  # 10 plausible poses per frame + their spread
  monocap lift keypoints.npz poses3d.npz --skeleton       # + one skeleton per person fitted to the sequence

from Python:
  from monocap import lift_file
  lift_file("keypoints.npz", "poses3d.npz", model="default", temporal=True)
"""


def add_parser(sub, parents):
    p = sub.add_parser("lift", parents=parents, help="lift 2D keypoints (pixels) to 3D poses (mm)",
                       description="Lift 2D keypoints in an .npz to metric 3D poses in the camera frame.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, metavar="IN.npz", help="2D keypoints file")
    p.add_argument("output", type=Path, metavar="OUT.npz", help="3D poses file to write")
    p.add_argument("--model", default="default", metavar="default|h36m|PATH",
                   help="shipped model name or weight file (default: %(default)s)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--temporal", dest="temporal", action="store_true", default=True,
                      help="use neighbouring frames (the default)")
    mode.add_argument("--single", dest="temporal", action="store_false", help="lift each frame on its own")
    p.add_argument("--causal", action="store_true", help="temporal, but from past frames only")
    p.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=None,
                   help="also lift the mirror image and average the two (about 1 mm lower error, twice the time; "
                        "the default without --hypotheses)")
    p.add_argument("--hypotheses", type=int, default=0, metavar="M",
                   help="draw M poses per frame from the diffusion prior guided by the keypoints; poses3d "
                        "becomes their mean (default: 0, the deterministic lifter alone)")
    p.add_argument("--prior", metavar="default|h36m|PATH",
                   help="pose prior for --hypotheses (default: the one trained on the lifter's data)")
    p.add_argument("--skeleton", action="store_true",
                   help="fit each person's whole sequence to one skeleton of constant bone lengths (not with "
                        "--causal; 100-200 frames/s instead of tens of thousands; see monocap.fit)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the hypotheses (default: %(default)s)")
    p.set_defaults(func=run)


def run(args) -> int:
    from . import UserError  # here, not at the top: monocap.cli imports this module before defining it

    if args.causal and not args.temporal:
        raise UserError("--causal and --single exclude each other (causal lifting is temporal)")
    if args.hypotheses < 0:
        raise UserError(f"--hypotheses must be 0 or more, got {args.hypotheses}")
    if args.prior is not None and not args.hypotheses:
        raise UserError("--prior needs --hypotheses M")
    if args.flip_test and args.hypotheses:
        raise UserError("--flip-test and --hypotheses exclude each other (the hypotheses replace the lifted poses)")
    if args.skeleton and (args.hypotheses or args.causal):
        raise UserError("--skeleton fits whole sequences lifted once: not with --causal or --hypotheses")
    flip_test = not args.hypotheses if args.flip_test is None else args.flip_test
    lifter = Lifter(args.model)
    sampler = None
    if args.hypotheses:
        sampler = HypothesisLifter.matching(lifter, args.prior, seed=args.seed)
    summary = lift_file(args.input, args.output, temporal=args.temporal, causal=args.causal, lifter=lifter,
                        hypotheses=args.hypotheses, sampler=sampler, flip_test=flip_test, skeleton=args.skeleton)
    if not args.quiet:
        mode = "single-frame" if not args.temporal else "causal temporal" if args.causal else "temporal"
        mode += ", flip test" if flip_test else ""
        mode += ", fitted to a skeleton" if args.skeleton else ""
        hyp = f", {args.hypotheses} hypotheses per frame (prior {sampler.prior.name})" if sampler else ""
        print(f"{summary['output']}: {summary['people']} person(s) x {summary['frames']} frames, "
              f"{summary['poses_found']} poses found, {mode}, model {summary['model']} ({summary['licence']}){hyp}")
    return 0
