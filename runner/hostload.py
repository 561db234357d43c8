"""Host load around a measurement: was the machine busy with someone else's work?

A throughput measured while other processes ate the CPU is not the configuration's
throughput. Before and after each genai-bench invocation the runner takes a `snapshot`
(/proc/stat, /proc/loadavg, and the CPU time of our own processes: this runner with the
children it reaped, which includes genai-bench, plus the engine's process group); `window`
turns two snapshots into the load average, the CPU steal fraction, and the share of the
machine's CPU time spent by processes that are not ours. `contended` flags a window.

Linux only; elsewhere (no /proc) the snapshot is empty and nothing is flagged.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

OTHERS_SHARE_LIMIT = 0.15  # others used more than 15 % of the machine's CPU time
STEAL_LIMIT = 0.05  # the hypervisor took more than 5 % of it


def _cpu_line() -> list[int] | None:
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    return [int(x) for x in first[1:]] if first and first[0] == "cpu" else None


def _proc_ticks(pid: int, children: bool) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    # utime stime cutime cstime: fields 14-17 (1-based) = 11..14 after the command
    own = int(fields[11]) + int(fields[12])
    return own + (int(fields[13]) + int(fields[14]) if children else 0)


def _group_ticks(pgids: Iterable[int]) -> int:
    groups = {int(g) for g in pgids if g}
    if not groups:
        return 0
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) in groups:
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total


def snapshot(pgids: Iterable[int] = ()) -> dict[str, Any]:
    """The machine's CPU counters and our processes' CPU time now (ticks)."""
    cpu = _cpu_line()
    if cpu is None:
        return {}
    try:
        load1 = float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        load1 = None
    return {
        "cpu": cpu,  # user nice system idle iowait irq softirq steal ...
        "loadavg_1m": load1,
        "ours": _proc_ticks(os.getpid(), children=True) + _group_ticks(pgids),
        "ncpu": os.cpu_count() or 1,
    }


def window(before: dict[str, Any], after: dict[str, Any], *,
           engine_known: bool = True) -> dict[str, Any]:
    """What happened on the machine between two snapshots. `engine_known` False: the
    engine's processes could not be counted as ours (a container, a remote cluster), so
    others' share includes the engine and only steal can flag contention."""
    if not before or not after:
        return {}
    delta = [a - b for a, b in zip(after["cpu"], before["cpu"], strict=False)]
    total = sum(delta[:8]) or 1
    idle = delta[3] + (delta[4] if len(delta) > 4 else 0)
    steal = delta[7] if len(delta) > 7 else 0
    busy = total - idle - steal
    ours = max(after["ours"] - before["ours"], 0)
    others = max(busy - ours, 0)
    out = {
        "loadavg_1m_before": before.get("loadavg_1m"),
        "loadavg_1m_after": after.get("loadavg_1m"),
        "steal_fraction": round(steal / total, 4),
        "others_cpu_share": round(others / total, 4),
        "ours_cpu_share": round(min(ours, busy) / total, 4),
        "cpus": after.get("ncpu"),
        "engine_known": engine_known,
    }
    out["contended"] = contended(out)
    return out


def contended(w: dict[str, Any]) -> bool:
    others = w.get("others_cpu_share", 0) if w.get("engine_known", True) else 0
    return bool(w) and (others > OTHERS_SHARE_LIMIT or w.get("steal_fraction", 0) > STEAL_LIMIT)
