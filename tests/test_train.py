"""The lifting network: numpy inference matches PyTorch; training learns, resumes and reproduces."""
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from monocap.lift.model import LiftModel  # noqa: E402
from monocap.train.export import export_weights  # noqa: E402
from monocap.train.model import LiftNet  # noqa: E402


def _randomise_batchnorm(net):
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) - 0.5)


@pytest.mark.parametrize("mode,temporal_input", [("single", "features"), ("centered", "features"),
                                                 ("causal", "features"), ("centered", "inputs"), ("causal", "inputs")])
def test_numpy_inference_matches_torch(tmp_path, mode, temporal_input):
    torch.manual_seed(0)
    net = LiftNet(width=64, blocks=2, temporal_channels=32, temporal_input=temporal_input)
    _randomise_batchnorm(net)
    for head in net.heads.values():
        torch.nn.init.normal_(head.out.weight, std=0.1)
    net.eval()
    x = torch.randn(3, 40, 51)
    export_weights(net, tmp_path / "w.npz", {"note": "test"})
    model = LiftModel.load(tmp_path / "w.npz")
    ref = net(x, mode).detach().numpy() * 1000.0
    ref[..., 0, :] = 0.0
    out = model.single(x.numpy()) if mode == "single" else model.temporal(x.numpy(), causal=mode == "causal")
    # float16 storage: agreement to a fraction of a percent of the pose size
    assert np.abs(out - ref).max() < 2e-3 * np.abs(ref).max()
    assert model.config["note"] == "test"


def test_causal_head_ignores_the_future(tmp_path):
    torch.manual_seed(0)
    net = LiftNet(width=32, blocks=1, temporal_channels=16).eval()
    for head in net.heads.values():  # as after training: heads start as a zero correction
        torch.nn.init.normal_(head.out.weight, std=0.1)
    export_weights(net, tmp_path / "w.npz", {})
    model = LiftModel.load(tmp_path / "w.npz")
    x = np.random.default_rng(0).normal(size=(1, 50, 51)).astype(np.float32)
    y = x.copy()
    y[:, 30:] += 1.0  # change only the future of frame 29
    a, b = model.temporal(x, causal=True), model.temporal(y, causal=True)
    assert np.allclose(a[:, :30], b[:, :30])
    assert not np.allclose(a[:, 30:], b[:, 30:])
    c, d = model.temporal(x), model.temporal(y)  # the centred head does look ahead
    assert not np.allclose(c[:, 25:30], d[:, 25:30])


def test_strided_heads_compute_the_dilated_heads_target_frame():
    """Heads on the inputs train strided on windows of their receptive field: the same function as running
    them dilated over the window, at its middle frame (centred) or last frame (causal)."""
    torch.manual_seed(0)
    net = LiftNet(width=32, blocks=1, temporal_channels=16, dilations=(1, 3, 9), temporal_input="inputs")
    _randomise_batchnorm(net)
    for head in net.heads.values():
        torch.nn.init.normal_(head.out.weight, std=0.1)
    net.eval()
    assert net.receptive_field == 27
    x = torch.randn(5, 27, 51)
    for mode, frame in (("centered", 13), ("causal", 26)):
        strided, dilated = net(x, mode, strided=True), net(x, mode)
        assert strided.shape == (5, 1, 17, 3) and dilated.shape == (5, 27, 17, 3)
        torch.testing.assert_close(strided[:, 0], dilated[:, frame], atol=1e-5, rtol=1e-5)
        assert (strided[:, 0] - dilated[:, frame - 1]).abs().max() > 1e-2
    with pytest.raises(ValueError, match="only temporal heads on the inputs"):
        LiftNet(width=32, blocks=1, temporal_channels=16)(x, "centered", strided=True)
    with pytest.raises(ValueError, match="dilations 1, 3, 9"):
        LiftNet(dilations=(1, 2, 4), temporal_input="inputs")


def test_head_share_mixes_an_input_reading_head_with_the_frame_network(tmp_path):
    """A weight file's ``head_share`` W: temporal poses are W times the head's plus 1 - W times the frame
    network's, in every graph that has a head (whole sequences and the live path's "top"); single frames stay."""
    torch.manual_seed(0)
    net = LiftNet(width=32, blocks=1, temporal_channels=16, dilations=(1, 3, 9), temporal_input="inputs")
    _randomise_batchnorm(net)
    for head in net.heads.values():
        torch.nn.init.normal_(head.out.weight, std=0.1)
    export_weights(net.eval(), tmp_path / "head.npz", {})
    export_weights(net, tmp_path / "mixed.npz", {"head_share": 0.25})
    head, mixed = LiftModel.load(tmp_path / "head.npz"), LiftModel.load(tmp_path / "mixed.npz")
    x = np.random.default_rng(0).normal(size=(2, 30, 51)).astype(np.float32)
    single = head.single(x)
    np.testing.assert_allclose(mixed.single(x), single, atol=1e-5)
    for causal in (False, True):
        expected = 0.25 * head.temporal(x, causal=causal) + 0.75 * single
        assert np.abs(head.temporal(x, causal=causal) - single).max() > 10.0  # the mix is a real change
        np.testing.assert_allclose(mixed.temporal(x, causal=causal), expected, atol=1e-3)
        np.testing.assert_allclose(mixed.temporal_from_features(mixed.features(x[0]).reshape(1, 30, 51), causal),
                                   expected[:1], atol=1e-3)

    from monocap.train.loop import TrainConfig, Trainer
    for share, heads in ((0.5, "features"), (0.0, "inputs"), (1.5, "inputs")):
        with pytest.raises(ValueError, match="head share"):
            Trainer(TrainConfig(data="h36m", out=tmp_path / "x.npz", work_dir=tmp_path / "x", head_share=share,
                                temporal_input=heads, dilations=(1, 3, 9)))


def test_heads_on_the_inputs_train_end_to_end_and_lift_live(tmp_path, shared_data):
    """`monocap train --temporal-input inputs`: stage 2 learns; the weight file lifts sequences and frame by frame."""
    from monocap.lift.lifter import Lifter
    from monocap.lift.stream import CausalLifter
    from monocap.train.loop import TrainConfig, Trainer

    cfg = TrainConfig(data="h36m", out=tmp_path / "w.npz", work_dir=tmp_path / "w", data_root=shared_data,
                      steps_single=20, steps_temporal=40, batch_single=256, batch_temporal=32, width=64, blocks=1,
                      temporal_channels=64, temporal_input="inputs", eval_every=20, threads=1)
    trainer = Trainer(cfg, quiet=True)
    meta = trainer.run()
    no_pose_mm = np.linalg.norm(trainer.val_temporal.targets, axis=-1).mean()  # where the heads start
    assert meta["val_p1_centered_mm"] < 0.7 * no_pose_mm and meta["val_p1_causal_mm"] < 0.7 * no_pose_mm

    # With a head share, the log scores the mixed poses that the weight file then lifts.
    trainer.cfg = replace(cfg, head_share=0.5)
    mixed_log = trainer.evaluate()
    val, net = trainer.val_temporal, trainer.net.eval()
    with torch.no_grad():
        x = torch.from_numpy(val.inputs)
        mixed_mm = 500.0 * (net(x, "centered") + net(x, "single")).numpy()
    assert mixed_log["val_p1_centered_mm"] != meta["val_p1_centered_mm"]
    assert mixed_log["val_p1_centered_mm"] == pytest.approx(np.linalg.norm(mixed_mm - val.targets, axis=-1).mean(),
                                                            abs=0.01)

    lifter = Lifter(tmp_path / "w.npz")
    assert lifter.info["temporal_input"] == "inputs"
    kp = trainer.val_temporal.keypoints_px[0]
    intr = trainer.val_temporal.intrinsics[0]
    whole = lifter(kp, trainer.val_temporal.scores[0], intr, temporal=True, causal=True)
    stream = CausalLifter(lifter, intr)
    live = np.stack([stream([0], kp[t:t + 1], trainer.val_temporal.scores[0, t:t + 1]).poses3d_mm[0]
                     for t in range(len(kp))])
    np.testing.assert_allclose(live, whole.poses3d_mm, atol=0.01)


def test_training_learns_resumes_and_reproduces(tmp_path, shared_data):
    from monocap.train.loop import TrainConfig, Trainer

    base = TrainConfig(data="h36m", out=tmp_path / "a.npz", work_dir=tmp_path / "a", data_root=shared_data,
                       steps_single=60, steps_temporal=6, batch_single=256, batch_temporal=4, window=27,
                       width=128, blocks=1, temporal_channels=32, eval_every=30, checkpoint_every=20, threads=1)
    trainer = Trainer(base, quiet=True)
    meta = trainer.run()
    first = trainer.history[0]
    assert meta["val_p1_single_mm"] < first["val_p1_single_mm"] < 1000
    # Untrained heads are not scored; trained ones next to the frame model on the same windows.
    assert first["stage"] == "single" and "val_p1_centered_mm" not in first
    assert meta["val_p1_single_windows_mm"] != meta["val_p1_single_mm"]

    # Stop after 40 steps (as a killed run would, at its last checkpoint), then resume:
    # the weights must be identical to the uninterrupted run's.
    other = replace(base, out=tmp_path / "b.npz", work_dir=tmp_path / "b")
    assert Trainer(other, quiet=True).run(stop_after=40) is None
    assert not (tmp_path / "b.npz").exists()
    Trainer(other, quiet=True).run()
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    for key in a.files:
        if key != "config":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_batches_from_worker_processes_do_not_depend_on_their_number(tmp_path, shared_data):
    """`monocap train --workers N`: each step's batch is seeded by its step, so 1 and 2 workers train the
    same weights, also through a stop and a resume in mid-stage, and other weights than the one stream."""
    from monocap.train.loop import TrainConfig, Trainer

    def config(name, workers):
        return TrainConfig(data="h36m", out=tmp_path / f"{name}.npz", work_dir=tmp_path / name,
                           data_root=shared_data, steps_single=40, steps_temporal=6, batch_single=256,
                           batch_temporal=4, window=27, width=64, blocks=1, temporal_channels=32, eval_every=40,
                           threads=1, workers=workers)
    Trainer(config("one", 1), quiet=True).run()
    assert Trainer(config("two", 2), quiet=True).run(stop_after=25) is None
    Trainer(config("two", 2), quiet=True).run()
    Trainer(config("stream", 0), quiet=True).run()
    one, two, stream = (np.load(tmp_path / f"{name}.npz") for name in ("one", "two", "stream"))
    weights = [key for key in one.files if key != "config"]
    for key in weights:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)
    assert any(not np.array_equal(one[key], stream[key]) for key in weights)
    with pytest.raises(ValueError, match="workers must be 0 or more"):
        Trainer(config("bad", -1), quiet=True)


def _single_mm(net, x: np.ndarray) -> np.ndarray:
    """The per-frame poses (N, 17, 3) mm of ``net`` as it is set (train or eval), dropout off."""
    for m in net.modules():  # compare the functions, not a random dropout mask
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    with torch.no_grad():
        out = net(torch.from_numpy(x), "single")[:, 0].numpy() * 1000.0
    out[:, 0] = 0.0
    return out


def test_init_starts_from_the_shipped_lifter(tmp_path, shared_data):
    """`monocap train --init default`: the new run's per-frame network computes what the shipped one does."""
    from monocap.lift.lifter import model_path
    from monocap.train.export import import_frame_weights
    from monocap.train.loop import TrainConfig, Trainer

    cfg = TrainConfig(data="h36m", out=tmp_path / "w.npz", work_dir=tmp_path / "w", data_root=shared_data,
                      width=512, blocks=2, threads=1, init="default")
    trainer = Trainer(cfg, quiet=True)
    x = trainer.val_single.inputs[:512]  # S8, which the import's training batch did not come from
    expected = LiftModel.load(model_path("default")).single(x)[:, 0]
    assert np.abs(_single_mm(trainer.net.eval(), x) - expected).max() < 0.01
    assert np.abs(_single_mm(LiftNet(17, 512, 2).eval(), x) - expected).mean() > 50  # not vacuous

    # In training mode the batch norms use the batch's own statistics: on the import's batch, the same function.
    net = LiftNet(17, 512, 2)
    import_frame_weights(net, model_path("default"), torch.from_numpy(x[:, 0]))
    assert np.abs(_single_mm(net.train(), x) - expected).max() < 0.01

    with pytest.raises(ValueError, match="width is 512"):
        import_frame_weights(LiftNet(17, 256, 2), model_path("default"), torch.from_numpy(x[:, 0]))


def test_training_device_names_what_this_machine_lacks():
    from monocap.train.loop import training_device

    assert training_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        training_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no GPU"):
            training_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU that PyTorch can use")
def test_training_on_a_gpu_exports_a_working_file(tmp_path, shared_data):
    from monocap.train.loop import TrainConfig, Trainer

    cfg = TrainConfig(data="h36m", out=tmp_path / "g.npz", work_dir=tmp_path / "g", data_root=shared_data,
                      steps_single=40, steps_temporal=10, batch_single=256, batch_temporal=16, width=64, blocks=1,
                      temporal_channels=32, temporal_input="inputs", eval_every=20, checkpoint_every=20,
                      threads=1, device="cuda")
    assert Trainer(cfg, quiet=True).run(stop_after=30) is None  # resumes from a checkpoint of GPU tensors
    meta = Trainer(cfg, quiet=True).run()
    assert meta["val_p1_single_mm"] < 1000
    model = LiftModel.load(tmp_path / "g.npz")
    x = np.zeros((1, 30, 51), np.float32)
    assert np.isfinite(model.temporal(x)).all()
