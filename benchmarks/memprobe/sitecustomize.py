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
allocated the most since that sample.

Nothing happens without ``TRADING_MEMPROBE_DIR``: the directory is never on a product path.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _type_counts() -> Counter[str]:
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


def _probe(directory: Path, seconds: float, trace: bool, types: bool, baseline: float) -> None:
    import tracemalloc

    began = time.time()
    base_types: Counter[str] | None = None
    out = directory / f"{os.getpid()}.jsonl"
    cmdline = Path("/proc/self/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    first = None
    with out.open("a") as handle:
        handle.write(json.dumps({"pid": os.getpid(), "cmdline": cmdline}) + "\n")
        while True:
            time.sleep(seconds)
            sample = {
                "t": time.time(),
                "rss": _rss(),
                "blocks": sys.getallocatedblocks(),
                "objects": len(gc.get_objects()),
                "threads": threading.active_count(),
            }
            settled = time.time() - began >= baseline
            if types and settled:
                counts = _type_counts()
                if base_types is None:
                    base_types = counts
                grown = counts - base_types
                sample["types"] = grown.most_common(15)
            if trace and settled:
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
    trace = os.environ.get("TRADING_MEMPROBE_TRACE") == "1"
    if trace:
        import tracemalloc

        tracemalloc.start(10)
    types = os.environ.get("TRADING_MEMPROBE_TYPES") == "1"
    seconds = float(os.environ.get("TRADING_MEMPROBE_SECONDS", "30"))
    baseline = float(os.environ.get("TRADING_MEMPROBE_BASELINE", "180"))
    Path(directory).mkdir(parents=True, exist_ok=True)
    threading.Thread(
        target=_probe,
        args=(Path(directory), seconds, trace, types, baseline),
        name="memprobe",
        daemon=True,
    ).start()


_start()
