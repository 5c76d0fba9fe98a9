"""Probabilistic lifting: a diffusion prior over 3D poses, guided by 2D keypoints (numpy).

Monocular 3D pose is ambiguous, so instead of one pose we draw M plausible
ones (hypotheses) and report how much they disagree.

The prior (`PosePrior`) is a denoiser trained on 3D mocap alone
(`monocap.train.diffusion`): it knows what human poses look like as the
lifter's *virtual camera* sees them (the camera turned to look straight at
the pelvis, `canonical.py`), but has never seen 2D. At inference
(`sample_poses`) DDIM runs from noise to a pose in a few steps; at each step
the network's clean-pose prediction x0 is pulled towards the 2D evidence by
gradient steps on the confidence-weighted reprojection error

    E(x0) = Σ_j w_j · |π(x0_j + root) − u_j|²,   π(X, Y, Z) = (X/Z, Y/Z),

where u_j are the keypoints in the virtual camera's normalised image
coordinates and the root (pelvis position) is re-fitted to the keypoints by
`estimate_root` before each step. The gradient is analytic (no network
Jacobian) and preconditioned by the squared depth, so a step of size 1 moves
a joint of weight 1 onto its ray (to first order): the step is in
millimetres whatever the distance to the camera. Joints with weight 0 get no
pull and are filled in by the prior (pose completion); with no evidence at
all the same loop generates poses unconditionally. Optionally the chain
starts from the deterministic lifter's pose, partly noised (SDEdit), instead
of from pure noise.

`HypothesisLifter` wraps this for keypoints in pixels, like `Lifter`: it
returns the hypotheses in the real camera frame, their aggregate (per-joint
mean) and per-joint spread.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..camera import Intrinsics
from ..skeleton import H36M17, bone_lengths, to_h36m17
from .canonical import estimate_root, to_camera_frame
from .lifter import Lifter, network_input, weight_file

PRIORS = {
    "default": "prior_default.npz",  # open data only (CMU + HDM05): free to use
    "h36m": "prior_h36m.npz",  # Human3.6M: non-commercial research use only
}
N_JOINTS = 17
TIME_FREQS = 32
T_MAX = 0.995  # ᾱ(T_MAX) ≈ 6e-5: practically pure noise, without the singularity at t = 1
MIN_DEPTH_MM = 100.0  # guidance ignores joints that a hypothesis puts (almost) behind the camera
TYPICAL_SIZE_SAMPLES = 512
# Items per network pass: big enough for BLAS, small enough for the cache.
CHUNK = 2048


def prior_path(name: str | Path) -> Path:
    """Path of a shipped prior ("default", "h36m") or of a user's weight file."""
    return weight_file(name, PRIORS, "prior")


def alpha_bar(t: np.ndarray | float) -> np.ndarray:
    """The cosine noise schedule (training uses it too): the signal share ᾱ at time t ∈ [0, 1]."""
    return np.cos((np.asarray(t, dtype=np.float64) + 0.008) / 1.008 * np.pi / 2) ** 2


def time_features(t: np.ndarray, n_freqs: int = TIME_FREQS) -> np.ndarray:
    """(N,) times → (N, 2·n_freqs) float32 sinusoids, periods from 0.006 to 47 time units (training uses it too)."""
    freqs = 1000.0 * (10000.0 ** (-(np.arange(n_freqs) / n_freqs)))
    angles = np.asarray(t, dtype=np.float64)[:, None] * freqs[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], -1).astype(np.float32)


def _silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


class PosePrior:
    """The denoiser: noised pose → predicted clean pose, both root-relative, virtual camera, mm.

    Weights: float16 layers ``<name>.W`` (in, out), ``<name>.b``, LayerNorm
    ``<name>.g``/``<name>.b``, the data standardisation ``data_mean`` and
    ``data_std`` (48,) in metres, and a JSON ``config``.
    """

    def __init__(self, weights: dict[str, np.ndarray], config: dict, name: str = "<arrays>"):
        self.w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        self.config, self.name = config, name
        self.blocks = int(config["blocks"])
        self.t_max = float(config.get("t_max", T_MAX))
        self.time_freqs = int(config.get("time_freqs", TIME_FREQS))
        self.mean_m, self.std_m = self.w["data_mean"], self.w["data_std"]
        self._typical_bone_sum_mm: float | None = None

    @classmethod
    def load(cls, model: str | Path = "default") -> "PosePrior":
        path = prior_path(model)
        try:
            with np.load(path, allow_pickle=False) as data:
                config = json.loads(str(data["config"]))
                weights = {k: data[k] for k in data.files if k != "config"}
            if config.get("kind") != "diffusion":
                raise ValueError("its config is not of kind 'diffusion'")
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: not a monocap pose-prior weight file ({exc})") from None
        return cls(weights, config, str(model))

    @property
    def typical_bone_sum_mm(self) -> float:
        """The median total bone length of the prior's own unconditional samples (fixed seed, cached):
        the body size guided sampling assumes."""
        if self._typical_bone_sum_mm is None:
            samples = sample_poses(self, TYPICAL_SIZE_SAMPLES, rng=np.random.default_rng(0))
            self._typical_bone_sum_mm = float(np.median(_bone_sum(samples)))
        return self._typical_bone_sum_mm

    @property
    def licence(self) -> str:
        return str(self.config.get("licence", "unknown: the weight file records no licence"))

    # -- the network ------------------------------------------------------------
    def _linear(self, name: str, x: np.ndarray) -> np.ndarray:
        y = x @ self.w[name + ".W"]
        y += self.w[name + ".b"]
        return y

    def _layer_norm(self, name: str, x: np.ndarray) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * self.w[name + ".g"] + self.w[name + ".b"]

    def _time_shifts(self, t: float) -> list[np.ndarray]:
        """Per block, the (width,) shift the time embedding adds: computed once per step."""
        emb = time_features(np.array([t]), self.time_freqs)
        emb = _silu(self._linear("time_hidden", _silu(self._linear("time_in", emb))))
        return [self._linear(f"blocks.{i}.time", emb)[0] for i in range(self.blocks)]

    def denoise_std(self, x_t: np.ndarray, t: float) -> np.ndarray:
        """(N, 48) standardised noised poses at time t → (N, 48) predicted clean poses, standardised."""
        shifts = self._time_shifts(t)
        out = np.empty_like(x_t, dtype=np.float32)
        for s in range(0, len(x_t), CHUNK):
            h = self._linear("fc_in", x_t[s:s + CHUNK].astype(np.float32))
            for i, shift in enumerate(shifts):
                y = self._linear(f"blocks.{i}.fc1", self._layer_norm(f"blocks.{i}.norm", h))
                y += shift
                h += self._linear(f"blocks.{i}.fc2", _silu(y))
            out[s:s + CHUNK] = self._linear("fc_out", _silu(self._layer_norm("norm_out", h)))
        return out

    # -- pose <-> standardised vector --------------------------------------------
    def to_std(self, poses_mm: np.ndarray) -> np.ndarray:
        """(N, 17, 3) root-relative mm → (N, 48) standardised."""
        return (poses_mm[:, 1:].reshape(len(poses_mm), -1) / 1000.0 - self.mean_m) / self.std_m

    def to_mm(self, x_std: np.ndarray) -> np.ndarray:
        """(N, 48) standardised → (N, 17, 3) root-relative mm (the root row is zero)."""
        rest = (x_std * self.std_m + self.mean_m).reshape(len(x_std), N_JOINTS - 1, 3) * 1000.0
        return np.concatenate([np.zeros((len(x_std), 1, 3)), rest], axis=1)


@dataclass
class Evidence2D:
    """The 2D evidence for N poses, in each pose's virtual camera.

    keypoints: (N, 17, 2) normalised image coordinates (x/z, y/z; no unit),
        H36M-17 order, in the virtual camera the prior samples in.
    weights: (N, 17) confidence of each keypoint, 0 = no evidence (that joint
        is completed by the prior).
    """

    keypoints: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class SamplerConfig:
    """DDIM with guidance.

    steps: DDIM steps of a chain over the whole noise range (from the prior's
        t_max to 0); a chain from given poses, which starts at `start_t`,
        takes that share of them (at least 1).
    guidance: step size of the reprojection pull on x0 (1 = onto the rays for
        a weight-1 joint, to first order); guidance_iters: pulls per step.
    eta: DDIM stochasticity (0 = deterministic given the start noise, 1 = DDPM-like).
    start_t: the noise level given poses (the lifter's) are raised to before
        denoising (SDEdit): lower keeps more of them, higher lets the prior move them more.
    """

    steps: int = 12
    guidance: float = 1.0
    guidance_iters: int = 1
    eta: float = 0.5
    start_t: float = 0.4


def _bone_sum(poses_mm: np.ndarray) -> np.ndarray:
    """(N, 17, 3) → (N,) total length of the skeleton's bones."""
    return bone_lengths(poses_mm).sum(-1)


def guide_x0(poses_mm: np.ndarray, evidence: Evidence2D, strength: float, iters: int,
             bone_sum_mm: float | np.ndarray) -> np.ndarray:
    """Move root-relative poses (N, 17, 3) mm towards the 2D evidence: `iters` preconditioned
    gradient steps on the weighted reprojection error, the root re-fitted before each.

    2D evidence cannot tell a small near person from a big far one, and pulling
    a pose onto the rays at a depth fitted to a still-blurry (shrunken) early
    prediction would fix that wrong size for good. So the pose is scaled to a
    given size (bones totalling `bone_sum_mm`, one number or (N,)) before and
    after the pull: scaling a pose and its root together does not change its projection.
    """
    x = poses_mm.astype(np.float64).copy()
    w = evidence.weights
    has_evidence = (w > 0).sum(-1) >= 3
    if not has_evidence.any():
        return x
    u = evidence.keypoints
    rescale = lambda p: p * np.where(has_evidence, bone_sum_mm / np.maximum(_bone_sum(p), 1.0), 1.0)[:, None, None]
    x = rescale(x)
    for _ in range(iters):
        root = estimate_root(x, u, w, min_joints=3)
        root = np.where(has_evidence[:, None], root, 0.0)
        p = x + root[:, None, :]
        z = p[..., 2]
        ok = (z > MIN_DEPTH_MM) & (w > 0) & has_evidence[:, None]
        z = np.where(ok, z, 1.0)
        r = p[..., :2] / z[..., None] - u  # reprojection residual, normalised image units
        # -z² · (∂π/∂p)ᵀ r: the gradient of ½|r|², preconditioned so the step is in mm.
        step = np.concatenate([-z[..., None] * r, (p[..., :2] * r).sum(-1, keepdims=True)], axis=-1)
        x += strength * np.where(ok, w, 0.0)[..., None] * step
        x -= x[:, :1]  # the pelvis is the origin; its own residual is the root's job
    return rescale(x)


def sample_poses(prior: PosePrior, n: int, evidence: Evidence2D | None = None, config: SamplerConfig = SamplerConfig(),
                 init_mm: np.ndarray | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
    """n poses (n, 17, 3) root-relative mm in the virtual camera: guided by `evidence` (N = n) when
    given, else unconditional; starting from `init_mm` (n, 17, 3) noised to `config.start_t` when given."""
    rng = rng if rng is not None else np.random.default_rng()
    # The body size: the initial poses' (a lifter's estimate), else the prior's typical one.
    size = _bone_sum(init_mm) if init_mm is not None else prior.typical_bone_sum_mm if evidence is not None else 0.0
    t_start = min(config.start_t, prior.t_max) if init_mm is not None else prior.t_max
    steps = max(1, round(config.steps * t_start / prior.t_max))
    times = np.linspace(t_start, 0.0, steps + 1)
    ab = alpha_bar(times)
    noise = rng.standard_normal((n, 3 * (N_JOINTS - 1)))
    if init_mm is not None:
        x = np.sqrt(ab[0]) * prior.to_std(init_mm) + np.sqrt(1 - ab[0]) * noise
    else:
        x = noise
    for k in range(steps):
        x0 = prior.denoise_std(x, float(times[k])).astype(np.float64)
        if evidence is not None and config.guidance > 0:
            x0 = prior.to_std(guide_x0(prior.to_mm(x0), evidence, config.guidance, config.guidance_iters, size))
        if k == steps - 1:  # the last step lands on t = 0: the (guided) clean pose itself
            return prior.to_mm(x0)
        a_t, a_s = ab[k], ab[k + 1]
        eps = (x - np.sqrt(a_t) * x0) / np.sqrt(1 - a_t)
        sigma = config.eta * np.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
        x = np.sqrt(a_s) * x0 + np.sqrt(max(1 - a_s - sigma ** 2, 0.0)) * eps
        if sigma > 0:
            x += sigma * rng.standard_normal(x.shape)


@dataclass
class HypothesisResult:
    """M hypotheses for (P people ×) T frames, H36M-17 joints, camera frame (x right, y down, z forward).

    hypotheses_mm: (M, ..., T, 17, 3) float32 mm, root-relative (pelvis at the origin).
    poses3d_mm: (..., T, 17, 3) float32 mm: the per-joint mean of the hypotheses.
    uncertainty_mm: (..., T, 17) float32 mm: per joint, the RMS 3D distance of
        the hypotheses from their mean (0 for the pelvis, by definition).
    root_cam_mm: (..., T, 3) float32 pelvis in the camera, fitted to the keypoints with the mean pose.
    All NaN where too few joints were seen (as `LiftResult`).
    """

    hypotheses_mm: np.ndarray
    poses3d_mm: np.ndarray
    uncertainty_mm: np.ndarray
    root_cam_mm: np.ndarray
    joint_names: tuple[str, ...] = H36M17.joints


class HypothesisLifter:
    """Draws M hypotheses per frame from the prior, guided by the keypoints; call like `Lifter`.

    prior: "default", "h36m" or a weight file. lifter: when given, each chain starts
    from its pose (temporal or single-frame as asked), noised to `config.start_t`,
    and the hypotheses take its body size; else chains start from pure noise.
    seed: the random seed of calls that give none, so a rerun gives the same hypotheses.
    """

    def __init__(self, prior: str | Path | PosePrior = "default", lifter: Lifter | None = None,
                 config: SamplerConfig = SamplerConfig(), min_joints: int = 6, seed: int = 0):
        self.prior = prior if isinstance(prior, PosePrior) else PosePrior.load(prior)
        self.lifter, self.config, self.min_joints, self.seed = lifter, config, min_joints, seed

    @classmethod
    def matching(cls, lifter: Lifter, prior: str | Path | None = None, config: SamplerConfig = SamplerConfig(),
                 seed: int = 0) -> "HypothesisLifter":
        """Chains started from `lifter`'s poses, with `prior`, by default the shipped one trained on
        the same data as `lifter` (open mocap or Human3.6M)."""
        if prior is None:
            prior = "h36m" if lifter.info.get("data") == "h36m" else "default"
        return cls(prior, lifter, config, seed=seed)

    def __call__(self, keypoints_px: np.ndarray, scores: np.ndarray | None, intrinsics: Intrinsics,
                 joint_format: str = "h36m17", hypotheses: int = 10, seed: int | None = None, temporal: bool = True,
                 causal: bool = False, fps: float | None = None) -> HypothesisResult:
        """keypoints_px: (T, J, 2) or (P, T, J, 2) pixels; scores (..., J) in [0, 1], 0 = missing."""
        if hypotheses < 1:
            raise ValueError(f"hypotheses must be at least 1, got {hypotheses}")
        kp = np.asarray(keypoints_px, dtype=np.float64)
        sc = np.ones(kp.shape[:-1]) if scores is None else np.asarray(scores, dtype=np.float64)
        kp17, sc17 = to_h36m17(kp, sc, joint_format)
        canon, kp_norm, sc17 = network_input(kp17, sc17, intrinsics)
        lead = kp17.shape[:-2]
        seen = (sc17 > 0).sum(-1) >= self.min_joints
        idx = np.flatnonzero(seen.reshape(-1))
        M, n = hypotheses, len(idx)

        rotation = canon.rotation.reshape(-1, 3, 3)[idx]
        virtual_kp = (canon.features * canon.scale[..., None, None]).reshape(-1, N_JOINTS, 2)[idx]
        evidence = Evidence2D(np.tile(virtual_kp, (M, 1, 1)), np.tile(canon.scores.reshape(-1, N_JOINTS)[idx], (M, 1)))
        init = None
        if self.lifter is not None:
            det = self.lifter(keypoints_px, scores, intrinsics, joint_format, temporal=temporal, causal=causal,
                              fps=fps).poses3d_mm.reshape(-1, N_JOINTS, 3)[idx]
            init = np.tile(det.astype(np.float64) @ np.swapaxes(rotation, -1, -2), (M, 1, 1))  # into the virtual camera
        hyps = np.full((M, int(np.prod(lead)), N_JOINTS, 3), np.nan)
        if n:
            rng = np.random.default_rng(self.seed if seed is None else seed)
            virtual = sample_poses(self.prior, M * n, evidence, self.config, init, rng)
            hyps[:, idx] = to_camera_frame(virtual.reshape(M, n, N_JOINTS, 3), rotation[None])
        hyps = hyps.reshape(M, *lead, N_JOINTS, 3)
        mean = hyps.mean(0)
        spread = np.sqrt(((hyps - mean) ** 2).sum(-1).mean(0))
        root = estimate_root(mean, kp_norm, sc17, min_joints=self.min_joints)
        return HypothesisResult(hyps.astype(np.float32), mean.astype(np.float32), spread.astype(np.float32),
                                root.astype(np.float32))
