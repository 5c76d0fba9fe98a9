"""`monocap bench fit`: the figures of one real take, and argument checks."""
import pytest

from monocap.cli import main
from monocap.eval.bench_fit import score_take
from monocap.eval.bench_lift import h36m_takes
from monocap.fit.skeleton import FitConfig
from monocap.lift.lifter import Lifter, model_path


def test_one_walking_take_before_and_after(shared_data):
    if not model_path("default").is_file():
        pytest.skip("default weights not trained yet")
    take = next(t for t in h36m_takes(shared_data / "h36m", 150) if t.label.startswith("S8/Walking 1 "))
    figures = score_take(take, Lifter("default"), FitConfig())
    before, after = figures["before"], figures["after"]
    assert figures["frames"] == 150
    assert before["bone_std_mm"] > 2.0 and after["bone_std_mm"] < 1e-6
    # zero-shot open-data model: far from perfect, and fitting neither ruins nor hides it
    assert 20.0 < after["p1_mm"] < before["p1_mm"] + 2.0 < 150.0
    assert after["skate_mm"] < before["skate_mm"]
    assert after["accel_mm"] < before["accel_mm"]


def test_bench_fit_rejects_bad_arguments(shared_data, capsys):
    assert main(["bench", "fit", "--data-root", str(shared_data), "--parts", "h36m,nonsense"]) == 2
    assert "--parts" in capsys.readouterr().err
    assert main(["bench", "fit", "--data-root", str(shared_data), "--max-frames", "2"]) == 2
    assert "--max-frames" in capsys.readouterr().err
