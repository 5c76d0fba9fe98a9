"""``monocap train``: train a lifter and export its weights."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

EXAMPLES = """examples:
  # the shipped default model (open data: CMU + HDM05)
  monocap train --data open --out monocap/lift/weights/default.npz
  # the research model on Human3.6M S1,S5,S6,S7 with S8 held out for model selection
  monocap train --data h36m --out runs/h36m_holdout.npz
  # ... started from the open-data model (pre-training on its many people)
  monocap train --data h36m --init default --out runs/h36m_holdout.npz
  # ... and the final research model on all five training subjects
  monocap train --data h36m --no-holdout --out monocap/lift/weights/h36m.npz
  # the 3D pose prior (diffusion) behind `monocap lift --hypotheses M`
  monocap train --kind diffusion --data open --out monocap/lift/weights/prior_default.npz --steps 3000
Interrupted runs resume from WORK_DIR/checkpoint.pt when started again with the same arguments.
"""


def dilations(text: str) -> tuple[int, ...]:
    """--dilations "1,3,9" → (1, 3, 9) (argparse names this function in its error for other text)."""
    return tuple(int(v) for v in text.split(","))


def add_parser(sub, parents):
    p = sub.add_parser("train", parents=parents,
                       help="train a 2D→3D lifter or 3D pose prior (needs the [train] extra: PyTorch)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=["lifter", "diffusion"], default="lifter",
                   help="lifter (2D→3D network) or diffusion (3D pose prior; uses --steps, --batch)")
    p.add_argument("--data", choices=["open", "h36m"], required=True, help="training data")
    p.add_argument("--out", type=Path, required=True, help="weights file to write (.npz)")
    p.add_argument("--work-dir", type=Path, help="checkpoints (default: runs/<out name>)")
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"), help="shared data folder")
    p.add_argument("--no-holdout", dest="holdout", action="store_false",
                   help="h36m: train on all five subjects (S8 included)")
    p.add_argument("--steps-single", type=int, default=20000)
    p.add_argument("--steps-temporal", type=int, default=3000)
    p.add_argument("--batch-single", type=int, default=1024)
    p.add_argument("--batch-temporal", type=int, default=32)
    p.add_argument("--steps", type=int, default=3000, help="diffusion: training steps")
    p.add_argument("--batch", type=int, default=512, help="diffusion: poses per step")
    p.add_argument("--window", type=int, default=81, help="frames per temporal training window")
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.1, help="lifter: dropout rate (default: %(default)s)")
    p.add_argument("--temporal-channels", type=int, default=128, help="lifter: channels of the temporal heads")
    p.add_argument("--dilations", type=dilations, default=(1, 3, 9, 27),
                   metavar="D,D,...", help="lifter: dilations of the temporal heads' layers; receptive field "
                                           "1 + 2 * their sum frames (default: 1,3,9,27: 81 frames)")
    p.add_argument("--temporal-input", choices=["features", "inputs"], default="features",
                   help="lifter: the temporal heads read the per-frame network's features and correct its pose "
                        "(features), or read the 2D input windows and give the whole pose, trained end to end "
                        "on windows of their receptive field, strided (inputs; give --batch-temporal 256 or more "
                        "and --temporal-channels 512) (default: %(default)s)")
    p.add_argument("--head-share", type=float, default=1.0, metavar="W",
                   help="lifter, --temporal-input inputs: the temporal pose is W times the head's plus 1 - W times "
                        "the frame network's (their errors only partly agree; 0.5 was 0.8 mm better than either "
                        "on held-out S8, see the README); W is written into the weight file (default: 1)")
    p.add_argument("--bone-scale-std", type=float, default=0.0, metavar="S",
                   help="lifter: per-bone length augmentation, std of the log factor (e.g. 0.08)")
    p.add_argument("--joint-shift-std", dest="joint_shift_std_mm", type=_non_negative, default=0.0, metavar="MM",
                   help="lifter: move the hips, shoulders, spine, thorax, neck and head by offsets of this std "
                        "per axis in the torso's frame, drawn per window, so that the model does not learn one "
                        "rig's joint centres (e.g. 15)")
    p.add_argument("--balance-poses", dest="balance", type=_non_negative, default=0.0, metavar="P",
                   help="lifter: draw rare poses more often: a frame's weight is (1 / (1 + the frames whose pose "
                        "lies within 100 mm of it)) ** P (0: every frame equally; e.g. 0.5)")
    p.add_argument("--init", metavar="MODEL",
                   help="lifter: start the per-frame network from this lifter's weights (default, h36m or a .npz "
                        "of the same width and blocks), e.g. --init default to fine-tune the open-data model")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch")
    p.add_argument("--device", default="cpu", metavar="cpu|cuda",
                   help="lifter: where PyTorch trains (default: %(default)s; cuda is untested: no GPU was lent "
                        "while it was written)")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="lifter: processes that make the training batches ahead of the optimiser (e.g. the GPU "
                        "machine's CPU cores less one); batch k of a stage then comes from a generator seeded by "
                        "(seed, stage, k), the same for any N >= 1 (default 0: made in this process from one "
                        "random stream, as the shipped weights were)")
    p.add_argument("--eval-every", type=int, default=2000)
    p.set_defaults(func=run)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {text!r}")
    return value


def run(args) -> int:
    try:
        from ..train.loop import TrainConfig, Trainer
    except ImportError as exc:
        raise ImportError(f"training needs PyTorch: pip install 'monocap[train]' ({exc})") from None
    if args.kind == "diffusion":
        from ..train.diffusion import DiffusionConfig, DiffusionTrainer
        if args.device != "cpu":
            raise ValueError("--device: the diffusion prior trains on the CPU only")
        cfg = DiffusionConfig(data=args.data, out=args.out, work_dir=args.work_dir or Path("runs") / args.out.stem,
                              data_root=args.data_root, holdout=args.holdout, steps=args.steps, batch=args.batch,
                              lr=args.lr, seed=args.seed, threads=args.threads, eval_every=args.eval_every)
        trainer = DiffusionTrainer(cfg, quiet=args.quiet)
    else:
        cfg = TrainConfig(data=args.data, out=args.out, work_dir=args.work_dir or Path("runs") / args.out.stem,
                          data_root=args.data_root, holdout=args.holdout, steps_single=args.steps_single,
                          steps_temporal=args.steps_temporal, batch_single=args.batch_single,
                          batch_temporal=args.batch_temporal, window=args.window, width=args.width,
                          blocks=args.blocks, dropout=args.dropout, temporal_channels=args.temporal_channels,
                          dilations=args.dilations, temporal_input=args.temporal_input, head_share=args.head_share,
                          lr=args.lr, seed=args.seed, threads=args.threads, device=args.device, workers=args.workers,
                          eval_every=args.eval_every,
                          bone_scale_std=args.bone_scale_std, joint_shift_std_mm=args.joint_shift_std_mm,
                          balance=args.balance, init=args.init)
        trainer = Trainer(cfg, quiet=args.quiet)
    meta = trainer.run()
    if not args.quiet:
        print(json.dumps(meta, indent=1))
    return 0
