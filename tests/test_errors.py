"""utils.errors: a UserError prints as one line, also when a DataLoader worker raised it."""
from __future__ import annotations

import pytest
from torch.utils.data import DataLoader, Dataset

from utils.errors import DataError, run_cli


class _Unreadable(Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> None:
        raise DataError("broken.jpg: cannot read image (image file is truncated)")


@pytest.mark.parametrize("workers", [0, 1])
def test_a_data_error_from_a_loader_is_one_line(workers: int, capsys: pytest.CaptureFixture) -> None:
    """torch re-raises a worker's exception with its whole traceback as the message; the CLI shows the
    original message only, as it does without workers."""
    with pytest.raises(SystemExit) as exit_:
        run_cli(lambda: next(iter(DataLoader(_Unreadable(), num_workers=workers))))
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: broken.jpg: cannot read image (image file is truncated)"]
