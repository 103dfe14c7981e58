"""Shared fixtures.

``gloo_store``: multi-process tests rendezvous through a TCPStore that this (the pytest) process hosts,
as torchrun's agent does, so no worker's exit takes the store away from its peer. (The SIGABRT seen in
CI came later, in a worker's interpreter teardown after a clean destroy_process_group; the workers
avoid it by ending with os._exit, tests/test_distributed.py.)
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import torch.distributed as dist

HOST = "127.0.0.1"


@pytest.fixture
def gloo_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[dist.TCPStore]:
    """A store outliving every worker; spawned workers find it through env:// (MASTER_ADDR/PORT)."""
    store = dist.TCPStore(HOST, 0, is_master=True, wait_for_workers=False, timeout=timedelta(seconds=60))
    monkeypatch.setenv("MASTER_ADDR", HOST)
    monkeypatch.setenv("MASTER_PORT", str(store.port))
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
    yield store
