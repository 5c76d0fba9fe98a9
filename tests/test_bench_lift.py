"""`monocap bench lift` runs end to end on real data and reports sane figures."""
import json

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
