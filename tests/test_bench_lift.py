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
