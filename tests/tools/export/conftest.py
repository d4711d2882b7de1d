from __future__ import annotations

import pytest

from tests.support.export_run import TrainedRun, trained_run


@pytest.fixture
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    return trained_run(tmp_path_factory)
