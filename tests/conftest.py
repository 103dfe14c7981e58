"""Shared fixtures.

``gloo_store``: multi-process tests rendezvous through a TCPStore that this (the pytest) process hosts,
as torchrun's agent does. When rank 0 hosted it, rank 0 could exit while its peer was still tearing
the group down, and gloo aborted the peer (SIGABRT, about one CI run in thirty).
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
