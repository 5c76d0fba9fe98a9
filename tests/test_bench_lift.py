"""`monocap bench lift` runs end to end on real data and reports sane figures."""
import json

import numpy as np
import pytest

from monocap.cli import main
from monocap.lift.lifter import model_path


@pytest.fixture
def trained_default():
    path = model_path("default")
    if not path.is_file():
        pytest.skip("default weights not trained yet")
    return path


def test_bench_lift_quick_run(tmp_path, shared_data, trained_default, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "lift", "--data-root", str(shared_data), "--models", "default", "--parts", "h36m",
                 "--max-frames", "60", "--stride", "20", "--json", str(out), "-q"])
    assert code == 0
    figures = json.loads(out.read_text())
    table = figures["h36m_s8"]["default"]
    for mode in ("single", "temporal"):
        mean = table[mode]["mean_over_rows"]
        # zero-shot open-data model on real H36M: far better than chance (~200 mm), not perfect
        assert 20 < mean["p2_mm"] < mean["p1_mm"] < 150
        # scale alone removes less than Procrustes; most joints of a fair lift lie within 150 mm
        assert mean["p2_mm"] < mean["n_p1_mm"] < mean["p1_mm"]
        assert 0 < mean["auc_pct"] < mean["pck150_pct"] <= 100 and mean["pck150_pct"] > 50
    printed = capsys.readouterr().out
    assert "Directions" in printed and "WalkTogether" in printed


def test_bench_lift_rejects_unknown_parts(shared_data, trained_default, capsys):
    assert main(["bench", "lift", "--data-root", str(shared_data), "--parts", "h36m,nonsense"]) == 2
    assert "--parts" in capsys.readouterr().err


def test_bench_lift_causal_scores_the_causal_lifter_in_the_temporal_columns(tmp_path, shared_data, trained_default):
    figures = {}
    for flags in ([], ["--causal"]):
        out = tmp_path / f"bench{len(flags)}.json"
        assert main(["bench", "lift", "--data-root", str(shared_data), "--models", "default", "--parts", "h36m",
                     "--max-frames", "90", "--stride", "30", "--json", str(out), "-q", *flags]) == 0
        figures[bool(flags)] = json.loads(out.read_text())
    assert figures[True]["settings"]["causal"] and not figures[False]["settings"]["causal"]
    centred, causal = (figures[c]["h36m_s8"]["default"] for c in (False, True))
    assert centred["single"] == causal["single"]  # frame by frame either way
    # Past frames only: other poses than the centred head's, as good as a lifter gets zero-shot.
    assert centred["temporal"]["mean_over_rows"] != causal["temporal"]["mean_over_rows"]
    assert 20 < causal["temporal"]["mean_over_rows"]["p2_mm"] < causal["temporal"]["mean_over_rows"]["p1_mm"] < 150


def test_bench_lift_speed_measures_every_model(tmp_path, shared_data, trained_default):
    out = tmp_path / "bench.json"
    assert main(["bench", "lift", "--data-root", str(shared_data), "--models", f"default,{trained_default}",
                 "--parts", "speed", "--json", str(out), "-q"]) == 0
    throughput = json.loads(out.read_text())["throughput"]
    assert len(throughput) == 2
    for speed in throughput.values():
        # a pose through the lifter costs about a million multiply-adds: thousands a second on any CPU
        assert speed["single_poses_per_s"] > 1000 and speed["temporal_poses_per_s"] > 1000


def test_bench_lift_scores_other_subjects_in_a_copy_that_has_them(tmp_path, shared_data, trained_default, capsys):
    """--subjects on a data root laid out as shared/data: here S8's real takes renamed S9, as a user's copy of
    the test subjects would hold them. The figures are S8's, and the weights never saw an "S9"."""
    h36m = tmp_path / "h36m"
    h36m.mkdir()
    meta = json.loads((shared_data / "h36m" / "cameras.json").read_text())
    meta["cameras"] = {"S9": meta["cameras"]["S8"]}
    (h36m / "cameras.json").write_text(json.dumps(meta))
    with np.load(shared_data / "h36m" / "poses3d_world_mm.npz") as data:
        taken = {k.replace("S8/", "S9/"): data[k][:60] for k in data.files if k.startswith("S8/")}
    np.savez(h36m / "poses3d_world_mm.npz", **taken)
    figures = {}
    for subject, root in (("S9", tmp_path), ("S8", shared_data)):
        out = tmp_path / f"{subject}.json"
        assert main(["bench", "lift", "--data-root", str(root), "--models", "h36m", "--parts", "h36m",
                     "--subjects", subject, "--max-frames", "60", "--stride", "20", "--json", str(out), "-q"]) == 0
        figures[subject] = json.loads(out.read_text())[f"h36m_{subject.lower()}"]["h36m"]
    assert "S9 never in training" in figures["S9"]["note"] and "S8 WAS TRAINED ON" in figures["S8"]["note"]
    for mode in ("single", "temporal"):
        assert figures["S9"][mode] == figures["S8"][mode]
    assert len(figures["S9"]["single"]["rows"]) == 15
    capsys.readouterr()
    assert main(["bench", "lift", "--data-root", str(tmp_path), "--parts", "h36m", "--subjects", "S11"]) == 2
    assert "cameras.json: no cameras for S11 (it has S9)" in capsys.readouterr().err
