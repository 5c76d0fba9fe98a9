"""``monocap sample N``: draw N 3D poses from the diffusion prior (pose generation)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..lift.diffusion import SamplerConfig

EXAMPLES = """writes OUT.npz: poses3d (N,17,3) float32 mm, pelvis-relative, H36M-17, in the frame of a
camera looking straight at the pelvis (x right, y down, z forward: the frame the prior models);
joint_names (17,); prior, licence; seed, steps.

examples:
  monocap sample 100 -o poses.npz                  # 100 poses from the default (open data) prior
  monocap sample 100 -o poses.npz --prior h36m     # Human3.6M prior: non-commercial research only
  monocap sample 5 -o poses.npz --seed 3 --steps 25
"""


def add_parser(sub, parents):
    p = sub.add_parser("sample", parents=parents, help="generate 3D poses from the diffusion pose prior",
                       description="Draw N 3D poses from the diffusion pose prior, unconditionally.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("n", type=int, metavar="N", help="number of poses")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.npz", help="file to write")
    p.add_argument("--prior", default="default", metavar="default|h36m|PATH",
                   help="pose prior (default: %(default)s)")
    p.add_argument("--steps", type=int, default=SamplerConfig.steps, help="DDIM steps (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.set_defaults(func=run)


def run(args) -> int:
    from . import UserError  # here, not at the top: monocap.cli imports this module before defining it
    from ..io.atomic import atomic_output
    from ..lift.diffusion import PosePrior, sample_poses
    from ..skeleton import H36M17

    if args.n < 1 or args.steps < 1:
        raise UserError(f"N and --steps must be positive, got {args.n} and {args.steps}")
    if not args.output.parent.is_dir():
        raise UserError(f"{args.output}: output folder {args.output.parent} does not exist")
    prior = PosePrior.load(args.prior)
    poses = sample_poses(prior, args.n, config=SamplerConfig(steps=args.steps), rng=np.random.default_rng(args.seed))
    with atomic_output(args.output) as tmp, open(tmp, "wb") as f:
        np.savez(f, poses3d=poses.astype(np.float32), joint_names=np.array(H36M17.joints),
                 prior=np.array(prior.name), licence=np.array(prior.licence), seed=np.array(args.seed),
                 steps=np.array(args.steps))
    if not args.quiet:
        print(f"{args.output}: {args.n} poses from prior {prior.name} ({prior.licence})")
    return 0
