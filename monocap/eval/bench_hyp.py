"""``monocap bench hyp``: the diffusion prior's hypotheses on Human3.6M S8 with ground-truth 2D.

For each (prior, lifter) pair, on the S8 takes of `bench lift` (4 real
cameras, ground-truth 2D projected with lens distortion, pinhole intrinsics
given), single frames, two ways of sampling: chains started from the
single-frame lifter's pose (what ``monocap lift --hypotheses`` does) and
chains from pure noise (the prior and the 2D alone):

- best-of-M P1/P2 for M = 1, 5, 20: per pose the best of the first M
  hypotheses (they are independent draws, so the first M are a draw of M);
- aggregate P1/P2: the per-joint mean of all 20 (`monocap lift --hypotheses 20`);
- the deterministic single-frame lifter's P1/P2 on the same frames;
- completion: 1–4 random joints per frame hidden (score 0); the mean error
  of the hidden joints (pelvis-aligned, mm), for the aggregate and for the
  deterministic lifter given the same scores;
- calibration: Spearman correlation between the per-joint spread
  (`uncertainty_mm`) and the per-joint error of the aggregate (pelvis
  excluded: both are 0 there), and the share of errors within 2 spreads;
- speed: M = 10 hypotheses per frame, frames/s and hypotheses/s through
  `HypothesisLifter` (chains from the lifter, its time included), after a
  warm-up, best of 3.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from ..io.h36m import SUBJECT_HOLDOUT
from ..lift.diffusion import HypothesisLifter, PosePrior, SamplerConfig, prior_path
from ..lift.lifter import Lifter, model_path
from .bench_lift import add_subjects_argument, cpu_name, h36m_takes, numpy_threads
from .metrics import mpjpe, pa_mpjpe

NAME = "hyp"
HELP = "diffusion-prior hypotheses on H36M S8: best-of-M, aggregate, completion, calibration, speed"
EXAMPLES = """examples:
  monocap bench hyp                                          # default prior + default lifter, every 50th frame
  monocap bench hyp --models runs/prior_h36m_holdout.npz=runs/h36m_holdout.npz,default=default
  monocap bench hyp --max-frames 200 --stride 20 --json hyp.json     # a quick run
"""

BEST_OF = (1, 5, 20)
SPEED_HYPOTHESES = 10
SPEED_FRAMES = 1000
SPEED_REPEATS = 3
MAX_HIDDEN = 4


def _parse_models(text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        prior, _, lifter = item.partition("=")
        if not lifter:
            raise ValueError(f"--models takes PRIOR=LIFTER pairs, not {item!r}")
        pairs.append((prior, lifter))
    if not pairs:
        raise ValueError("--models names no PRIOR=LIFTER pair")
    return pairs


def evaluate(sampler: HypothesisLifter, lifter: Lifter, takes, stride: int, quiet: bool, desc: str,
             seed: int = 0) -> dict:
    """Every figure but speed, pooled over all scored poses of `takes`."""
    from tqdm import tqdm

    M = max(BEST_OF)
    rng = np.random.default_rng(seed)
    best = {m: ([], []) for m in BEST_OF}
    agg_p1, agg_p2, det_p1, det_p2 = [], [], [], []
    spread, joint_err = [], []
    hidden_agg, hidden_det = [], []
    for take in tqdm(takes, desc=desc, disable=quiet, file=sys.stderr, leave=False):
        take = take.every(stride)
        m = take.scored
        if not m.any():
            continue
        gt = take.gt_cam_mm[m]
        kp, sc = take.keypoints_px[m], take.scores[m]
        res = sampler(kp, sc, take.intrinsics, "h36m17", hypotheses=M, seed=int(rng.integers(2 ** 31)),
                      temporal=False)
        per_hyp_p1 = np.stack([mpjpe(h, gt, root=0) for h in res.hypotheses_mm])  # (M, N)
        per_hyp_p2 = np.stack([pa_mpjpe(h, gt) for h in res.hypotheses_mm])
        for k in BEST_OF:
            best[k][0].append(per_hyp_p1[:k].min(0))
            best[k][1].append(per_hyp_p2[:k].min(0))
        agg_p1.append(mpjpe(res.poses3d_mm, gt, root=0))
        agg_p2.append(pa_mpjpe(res.poses3d_mm, gt))
        det = lifter(kp, sc, take.intrinsics, "h36m17", temporal=False).poses3d_mm
        det_p1.append(mpjpe(det, gt, root=0))
        det_p2.append(pa_mpjpe(det, gt))
        gt_rel = gt - gt[:, :1]
        spread.append(res.uncertainty_mm[:, 1:].ravel())
        joint_err.append(np.linalg.norm(res.poses3d_mm - gt_rel, axis=-1)[:, 1:].ravel())

        # Completion: hide 1..MAX_HIDDEN random joints per frame.
        n = len(gt)
        n_hidden = rng.integers(1, MAX_HIDDEN + 1, size=n)
        order = np.argsort(rng.random((n, 17)), axis=1)
        hidden = np.zeros((n, 17), dtype=bool)
        for k in range(MAX_HIDDEN):
            rows = np.flatnonzero(n_hidden > k)
            hidden[rows, order[rows, k]] = True
        sc_hidden = np.where(hidden, 0.0, sc)
        res_h = sampler(kp, sc_hidden, take.intrinsics, "h36m17", hypotheses=M,
                        seed=int(rng.integers(2 ** 31)), temporal=False)
        det_h = lifter(kp, sc_hidden, take.intrinsics, "h36m17", temporal=False).poses3d_mm
        hidden_agg.append(np.linalg.norm(res_h.poses3d_mm - gt_rel, axis=-1)[hidden])
        hidden_det.append(np.linalg.norm(det_h - gt_rel, axis=-1)[hidden])
    if not agg_p1:
        raise ValueError(f"{desc}: no frame to score")
    cat = np.concatenate
    spread_all, err_all = cat(spread), cat(joint_err)
    return {
        "poses": int(len(cat(agg_p1))),
        "best_of": {str(k): {"p1_mm": float(cat(best[k][0]).mean()), "p2_mm": float(cat(best[k][1]).mean())}
                    for k in BEST_OF},
        "aggregate": {"p1_mm": float(cat(agg_p1).mean()), "p2_mm": float(cat(agg_p2).mean())},
        "deterministic": {"p1_mm": float(cat(det_p1).mean()), "p2_mm": float(cat(det_p2).mean())},
        "completion": {"hidden_joints": int(len(cat(hidden_agg))),
                       "aggregate_mm": float(cat(hidden_agg).mean()),
                       "deterministic_mm": float(cat(hidden_det).mean())},
        "calibration": {"spearman": float(spearmanr(spread_all, err_all).statistic),
                        "within_2_spread": float((err_all <= 2 * spread_all).mean()),
                        "mean_spread_mm": float(spread_all.mean())},
    }


def speed(sampler: HypothesisLifter, take) -> dict:
    """M = SPEED_HYPOTHESES per frame on SPEED_FRAMES frames; best of SPEED_REPEATS after a warm-up."""
    kp = np.resize(take.keypoints_px, (SPEED_FRAMES, *take.keypoints_px.shape[1:]))
    sampler(kp[:50], None, take.intrinsics, hypotheses=SPEED_HYPOTHESES, temporal=False)
    seconds = []
    for _ in range(SPEED_REPEATS):
        t0 = time.perf_counter()
        sampler(kp, None, take.intrinsics, hypotheses=SPEED_HYPOTHESES, temporal=False)
        seconds.append(time.perf_counter() - t0)
    fps = SPEED_FRAMES / min(seconds)
    return {"hypotheses": SPEED_HYPOTHESES, "frames_per_s": fps, "hypotheses_per_s": fps * SPEED_HYPOTHESES}


def add_arguments(p) -> None:
    p.add_argument("--models", default="default=default", metavar="PRIOR=LIFTER,...",
                   help="comma-separated prior=lifter pairs, names or weight files (default: %(default)s)")
    p.add_argument("--max-frames", type=int, metavar="N", help="only the first N frames of each sequence")
    p.add_argument("--stride", type=int, default=50, metavar="N", help="score every Nth frame (default %(default)s)")
    p.add_argument("--steps", type=int, default=SamplerConfig.steps,
                   help="DDIM steps over the whole noise range (default %(default)s)")
    p.add_argument("--start-t", type=float, default=SamplerConfig.start_t, metavar="T",
                   help="noise level the lifter's poses start from, in (0, 1) (default %(default)s)")
    p.add_argument("--no-speed", dest="speed", action="store_false", help="skip the speed test")
    add_subjects_argument(p)


def run(args) -> dict:
    """Print the tables; return every figure (for ``--json``)."""
    if args.stride < 1 or (args.max_frames is not None and args.max_frames < 1) or args.steps < 1:
        raise ValueError("--stride, --max-frames and --steps must be positive")
    if not 0 < args.start_t < 1:
        raise ValueError(f"--start-t must lie in (0, 1), got {args.start_t}")
    pairs = _parse_models(args.models)
    for prior, lifter in pairs:  # fail before the first table
        prior_path(prior), model_path(lifter)
    takes = h36m_takes(Path(args.data_root) / "h36m", args.max_frames, args.subjects)
    t_start = time.perf_counter()
    config = SamplerConfig(steps=args.steps, start_t=args.start_t)
    figures = {"settings": {"stride": args.stride, "max_frames": args.max_frames, "sampler": vars(config),
                            "subjects": list(args.subjects)},
               "models": {}}
    sampling = f"one frame in {args.stride}" + ("" if args.max_frames is None else
                                                 f" of the first {args.max_frames} of each sequence")
    for prior_name, lifter_name in pairs:
        prior, lifter = PosePrior.load(prior_name), Lifter(lifter_name)
        key = f"{prior_name}={lifter_name}"
        variants = {"from lifter": HypothesisLifter(prior, lifter, config),
                    "from noise": HypothesisLifter(prior, None, config)}
        out = figures["models"][key] = {"prior": {k: prior.config.get(k) for k in ("data", "holdout", "licence")},
                                        "lifter": {k: lifter.info.get(k) for k in ("data", "holdout")}}
        for name, sampler in variants.items():
            out[name] = evaluate(sampler, lifter, takes, args.stride, args.quiet, f"{key} {name}")
            _print(f"prior {prior_name} ({_note(prior.config)}), lifter {lifter_name} ({_note(lifter.info)}), "
                   f"{name}\nHuman3.6M {', '.join(args.subjects)}, 4 cameras, ground-truth 2D, single frames, "
                   f"{sampling}, sampler {vars(config)}", out[name])
        if args.speed:
            out["speed"] = dict(speed(variants["from lifter"], takes[0]), cpu=cpu_name(), cpus=os.cpu_count(),
                                numpy_threads=numpy_threads())
            s = out["speed"]
            print(f"speed: M = {s['hypotheses']}: {s['frames_per_s']:.1f} frames/s, {s['hypotheses_per_s']:.0f} "
                  f"hypotheses/s ({s['cpu']}, {s['cpus']} CPUs, numpy BLAS threads {s['numpy_threads']})")
    figures["wall_s"] = time.perf_counter() - t_start
    print(f"\nbench hyp took {figures['wall_s']:.0f} s")
    return figures


def _note(info: dict) -> str:
    if info.get("data") == "open":
        return "open mocap, zero-shot"
    if info.get("data") == "h36m":
        return (f"H36M, {SUBJECT_HOLDOUT} held out" if info.get("holdout")
                else f"H36M, {SUBJECT_HOLDOUT} TRAINED ON: a fit check")
    return "training data unknown"


def _print(title: str, f: dict) -> None:
    print(f"\n{title}   ({f['poses']} poses; mm)")
    print(f"{'':<24}{'P1':>8}{'P2':>8}")
    for k in BEST_OF:
        print(f"{f'best of {k}':<24}{f['best_of'][str(k)]['p1_mm']:>8.1f}{f['best_of'][str(k)]['p2_mm']:>8.1f}")
    print(f"{f'aggregate (mean of {max(BEST_OF)})':<24}{f['aggregate']['p1_mm']:>8.1f}{f['aggregate']['p2_mm']:>8.1f}")
    print(f"{'deterministic lifter':<24}{f['deterministic']['p1_mm']:>8.1f}{f['deterministic']['p2_mm']:>8.1f}")
    c, cal = f["completion"], f["calibration"]
    print(f"completion, {c['hidden_joints']} hidden joints (1-{MAX_HIDDEN} per frame): aggregate "
          f"{c['aggregate_mm']:.1f} mm, deterministic lifter {c['deterministic_mm']:.1f} mm")
    print(f"calibration: Spearman(spread, error) {cal['spearman']:.2f}; errors within 2 spreads "
          f"{100 * cal['within_2_spread']:.0f}%; mean spread {cal['mean_spread_mm']:.1f} mm")
