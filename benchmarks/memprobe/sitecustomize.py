"""A memory probe for the platform's long-lived processes (``benchmarks/process_memory.py``).

Python imports ``sitecustomize`` at start-up from ``sys.path``; the benchmark puts this
directory on ``PYTHONPATH`` of the processes it starts, so every one of them (daemon, code
server, run workers) writes, every ``TRADING_MEMPROBE_SECONDS``, a JSON line to
``$TRADING_MEMPROBE_DIR/<pid>.jsonl``: resident memory from ``/proc``, the blocks Python's
allocator holds (``sys.getallocatedblocks``), the objects the garbage collector tracks and the
threads alive; with ``TRADING_MEMPROBE_TYPES=1`` also the object types whose count grew most
since the sample ``TRADING_MEMPROBE_BASELINE`` seconds after start (default 180: after
start-up and the first lazy imports).  Resident memory that grows while Python's blocks and
objects stay flat is memory held below Python (a C extension such as gRPC's core, or the C
allocator's fragmentation); growing blocks are Python objects kept alive, and with
``TRADING_MEMPROBE_TRACE=1`` (``tracemalloc``, slow) the probe names the lines that
allocated the most since that sample.  ``TRADING_MEMPROBE_CHAIN=<module>.<qualname>`` adds
what keeps the newest object of that type alive: the chain of its referrers up to a module
or a class.
``TRADING_MEMPROBE_COLLECT=1`` runs a full garbage collection before each sample and records
how many unreachable objects it freed: objects that only a full collection frees are cyclic
garbage waiting for Python's oldest generation to be collected, not a leak.

Nothing happens without ``TRADING_MEMPROBE_DIR``: the directory is never on a product path.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
import tracemalloc
import types
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _type_name(value: object) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _type_counts() -> Counter[str]:
    return Counter(_type_name(o) for o in gc.get_objects())


def _chain(type_name: str, known: set[int]) -> list[str]:
    """The referrers of the newest object of ``type_name`` not in ``known``, up to a module's
    or a class's namespace (frames, and the lists this function makes, left out)."""
    found = [o for o in gc.get_objects() if _type_name(o) == type_name and id(o) not in known]
    if not found:
        return []
    current, chain = found[-1], []
    del found
    seen = {id(current), id(chain)}
    for _ in range(60):
        referrers = [
            r
            for r in gc.get_referrers(current)
            if id(r) not in seen and not isinstance(r, types.FrameType)
        ]
        if not referrers:
            break
        current = referrers[0]
        del referrers
        seen.add(id(current))
        name = _type_name(current)
        if isinstance(current, dict):
            name += f" keys={list(current)[:6]!r:.200}"
            if "__name__" in current and "__builtins__" in current:
                chain.append(f"{name} (globals of {current['__name__']})")
                break
        elif isinstance(current, list | tuple | set | frozenset):
            name += f" len={len(current)}"
        elif isinstance(current, types.FunctionType | types.MethodType):
            name += f" {current.__qualname__}"
        chain.append(name)
        if isinstance(current, type | types.ModuleType):
            break
    return chain


@dataclass(frozen=True)
class Settings:
    """What to sample, from the ``TRADING_MEMPROBE_*`` variables (module docstring)."""

    directory: Path
    seconds: float
    baseline: float
    trace: bool
    types: bool
    chain: str
    collect: bool

    @classmethod
    def from_environment(cls, directory: str) -> Settings:
        def flag(name: str) -> bool:
            return os.environ.get(f"TRADING_MEMPROBE_{name}") == "1"

        return cls(
            directory=Path(directory),
            seconds=float(os.environ.get("TRADING_MEMPROBE_SECONDS", "30")),
            baseline=float(os.environ.get("TRADING_MEMPROBE_BASELINE", "180")),
            trace=flag("TRACE"),
            types=flag("TYPES"),
            chain=os.environ.get("TRADING_MEMPROBE_CHAIN", ""),
            collect=flag("COLLECT"),
        )


def _probe(settings: Settings) -> None:
    began = time.time()
    base_types: Counter[str] | None = None
    known: set[int] | None = None
    first = None
    out = settings.directory / f"{os.getpid()}.jsonl"
    cmdline = Path("/proc/self/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    with out.open("a") as handle:
        handle.write(json.dumps({"pid": os.getpid(), "cmdline": cmdline}) + "\n")
        while True:
            time.sleep(settings.seconds)
            freed = gc.collect() if settings.collect else None
            sample = {
                "t": time.time(),
                "freed": freed,
                "rss": _rss(),
                "blocks": sys.getallocatedblocks(),
                "objects": len(gc.get_objects()),
                "threads": threading.active_count(),
            }
            settled = time.time() - began >= settings.baseline
            if settings.types and settled:
                counts = _type_counts()
                if base_types is None:
                    base_types = counts
                grown = counts - base_types
                sample["types"] = grown.most_common(15)
            if settings.chain and settled:
                if known is None:
                    known = {id(o) for o in gc.get_objects()}
                else:
                    sample["chain"] = _chain(settings.chain, known)
            if settings.trace and settled:
                snapshot = tracemalloc.take_snapshot()
                if first is None:
                    first = snapshot
                stats = snapshot.compare_to(first, "lineno")[:8]
                sample["traced"] = tracemalloc.get_traced_memory()[0]
                sample["top"] = [str(stat) for stat in stats]
            handle.write(json.dumps(sample) + "\n")
            handle.flush()


def _start() -> None:
    directory = os.environ.get("TRADING_MEMPROBE_DIR")
    if not directory:
        return
    settings = Settings.from_environment(directory)
    if settings.trace:
        tracemalloc.start(10)
    settings.directory.mkdir(parents=True, exist_ok=True)
    threading.Thread(target=_probe, args=(settings,), name="memprobe", daemon=True).start()


_start()
