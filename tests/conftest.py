"""Shared fixtures: the real data folder beside the project (skipped when absent)."""
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    """A small lifter with random weights, for tests of shapes and plumbing (needs PyTorch)."""
    pytest.importorskip("torch")
    from monocap.train.export import export_weights
    from monocap.train.model import LiftNet

    path = tmp_path_factory.mktemp("weights") / "random.npz"
    export_weights(LiftNet(width=64, blocks=1, temporal_channels=16).eval(), path, {"licence": "test only"})
    return path
