"""Durability models: what a crash loses, and how long a restart takes.

The whiteboard can keep a copy on disk in two ways. An **RDB snapshot** is written every so
often (``save S N``: after S seconds if at least N keys changed); an **AOF** appends every
write to a log, and ``appendfsync`` says how often the log is forced to the disk: ``always``
(before the reply), ``everysec`` (once a second, in the background) or ``no`` (when the kernel
gets to it).

Two crashes differ in what survives:

* a **process crash** (``kill -9``, a segfault, the OOM killer) loses what the process held in
  its own memory. A write the AOF has handed to the kernel (``write``) sits in the page cache
  and reaches the disk later whatever happens to the process, so every AOF policy keeps every
  acknowledged write; RDB keeps what the last completed snapshot held.
* a **machine crash** (power loss, kernel panic) loses the page cache too: whatever was not
  ``fsync``-ed. The kernel writes dirty pages back once they are older than
  ``vm.dirty_expire_centisecs`` (30 s by default), checking every
  ``vm.dirty_writeback_centisecs`` (5 s).

Every function returns counts of acknowledged writes for a steady stream of ``write_rate``
writes a second, or windows in seconds. Times in seconds, sizes in bytes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import _validate as v

POLICIES = ("none", "rdb", "aof-no", "aof-everysec", "aof-always")
CRASHES = ("process", "machine")
CRON_TICK = 0.1            # serverCron runs hz = 10 times a second: save points are checked then
EVERYSEC_POSTPONE = 2.0    # everysec delays a write up to 2 s while a slow fsync is running


def _kernel_setting(name: str, default: float) -> float:
    """A ``vm.*`` writeback setting in seconds, from /proc when there is one."""
    try:
        return int(Path(f"/proc/sys/vm/{name}").read_text()) / 100.0
    except (OSError, ValueError):
        return default


def kernel_writeback() -> dict:
    """This machine's page-cache writeback: ``dirty_expire`` and ``writeback_interval`` (s)."""
    return {"dirty_expire": _kernel_setting("dirty_expire_centisecs", 30.0),
            "writeback_interval": _kernel_setting("dirty_writeback_centisecs", 5.0)}


def _check(policy, write_rate, crash):
    v.choice("policy", policy, POLICIES)
    v.choice("crash", crash, CRASHES)
    if not (isinstance(write_rate, (int, float)) and np.isfinite(write_rate) and write_rate >= 0):
        raise ValueError(f"write_rate must be a finite number >= 0 (writes a second), "
                         f"got {write_rate!r}")


def snapshot_period(save_seconds: int) -> float:
    """Seconds between RDB snapshots under a steady stream of writes with ``save S 1``.

    Redis compares whole seconds (``unixtime - lastsave > S``, both ``time_t``), so the next
    snapshot starts at the first cron tick once S + 1 whole seconds have passed since the last
    one ended: one snapshot every S + 1 seconds (for a small data set that saves at once).
    """
    if not (isinstance(save_seconds, (int, np.integer)) and save_seconds >= 1):
        raise ValueError(f"save_seconds must be an integer >= 1 (Redis refuses 0), "
                         f"got {save_seconds!r}")
    return float(save_seconds + 1)


def loss_window(policy: str, crash: str = "process", *, save_seconds: int = 60,
                save_duration: float = 0.0, dirty_expire: float | None = None,
                writeback_interval: float | None = None) -> dict:
    """How many seconds of acknowledged writes a crash at a random moment loses.

    Returns
    -------
    dict
        ``mean`` and ``max`` in seconds (``inf``: everything is lost), and ``why``.
    """
    _check(policy, 0.0, crash)
    kernel = kernel_writeback()
    expire = kernel["dirty_expire"] if dirty_expire is None else float(dirty_expire)
    interval = (kernel["writeback_interval"] if writeback_interval is None
                else float(writeback_interval))
    if policy == "none":
        return {"mean": np.inf, "max": np.inf, "why": "nothing is on disk: a restart is empty"}
    if policy == "rdb":
        # a crash loses the writes since the last fork whose snapshot completed: uniform over
        # one period, plus the save itself (a crash during a save loses the period before it)
        period = snapshot_period(save_seconds)
        return {"mean": save_duration + period / 2, "max": save_duration + period + CRON_TICK,
                "why": "the writes since the last completed snapshot"}
    if crash == "process":
        return {"mean": 0.0, "max": 0.0, "why": "write() put it in the page cache before the "
                "reply; the kernel writes it to disk whatever happens to the process"}
    if policy == "aof-always":
        return {"mean": 0.0, "max": 0.0, "why": "fsync before the reply: on disk when "
                "acknowledged"}
    if policy == "aof-everysec":
        return {"mean": 0.5, "max": EVERYSEC_POSTPONE, "why": "up to the last second not yet "
                "fsync-ed (2 s if the disk is slow)"}
    # aof-no: the file's dirty pages go out once the oldest is dirty_expire old, at the next
    # flusher wake-up; the file is dirtied again at once, so the cycle repeats
    period = expire + interval / 2
    return {"mean": period / 2, "max": expire + interval, "why": "what the kernel has not "
            "written back yet (vm.dirty_expire_centisecs + a flusher interval)"}


def expected_loss(policy: str, write_rate: float, crash: str = "process", *,
                  duration: float | None = None, **window) -> float:
    """Expected acknowledged writes lost by a crash at a random moment of a steady stream.

    ``duration`` (seconds of writing before the crash) caps the loss: no persistence loses
    all ``write_rate * duration`` writes, and no policy loses more than were made.
    """
    _check(policy, write_rate, crash)
    seconds = loss_window(policy, crash, **window)["mean"]
    if duration is not None:
        if not (isinstance(duration, (int, float)) and duration >= 0):
            raise ValueError(f"duration must be a number of seconds >= 0, got {duration!r}")
        seconds = min(seconds, float(duration))
    elif np.isinf(seconds):
        raise ValueError("policy 'none' loses everything: give duration (seconds of writing) "
                         "to count it")
    return float(write_rate * seconds)


def loss_table(write_rates=(100, 1000, 10_000), *, save_seconds: int = 60,
               **window) -> pd.DataFrame:
    """Expected writes lost, every policy x crash kind x write rate (``none``: inf)."""
    rows = []
    for policy in POLICIES:
        for crash in CRASHES:
            w = loss_window(policy, crash, save_seconds=save_seconds, **window)
            row = {"policy": policy, "crash": crash, "window_mean_s": w["mean"],
                   "window_max_s": w["max"]}
            for rate in write_rates:
                row[f"lost_at_{rate}_per_s"] = rate * w["mean"]
            rows.append(row)
    return pd.DataFrame(rows)


def fit_load_rate(sizes, seconds) -> dict:
    """Fit ``seconds = base + size / rate`` (least squares) to measured load times.

    Returns ``{"base_s", "bytes_per_s"}``; raises ``ValueError`` with fewer than two points.
    """
    x, y = np.asarray(sizes, dtype=float), np.asarray(seconds, dtype=float)
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"sizes and seconds must be two sequences of the same length >= 2, "
                         f"got {x.size} and {y.size}")
    slope, base = np.polyfit(x, y, 1)
    if slope <= 0:
        raise ValueError("load time does not grow with size in these points: measure larger "
                         "data sets")
    return {"base_s": float(max(base, 0.0)), "bytes_per_s": float(1 / slope)}


def restart_seconds(dataset_bytes, *, bytes_per_s: float, base_s: float = 0.0):
    """Predicted restart (load) time for a data set of ``dataset_bytes`` on disk."""
    if not bytes_per_s > 0:
        raise ValueError(f"bytes_per_s must be positive, got {bytes_per_s!r}")
    size = np.asarray(dataset_bytes, dtype=float)
    if np.any(size < 0):
        raise ValueError(f"dataset_bytes must be >= 0, got {dataset_bytes!r}")
    return base_s + size / bytes_per_s


def replication_loss(write_rate: float, lag: float) -> float:
    """Writes a primary acknowledged but its replica had not received when it died:
    ``write_rate x lag`` (asynchronous replication; ``WAIT`` makes it 0 for the writes that
    waited)."""
    if not (write_rate >= 0 and lag >= 0):
        raise ValueError(f"write_rate and lag must be >= 0, got {write_rate!r} and {lag!r}")
    return float(write_rate * lag)


# the course's comparison table ------------------------------------------------------------

RAM_DOLLARS_PER_GB_MONTH = 10.0     # notebook 04's (illustrative) price of whiteboard memory
DISK_DOLLARS_PER_GB_MONTH = 0.08    # AWS gp3 EBS list price, us-east-1, per GB-month (2024)


def comparison_table(crashes: pd.DataFrame, price: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Redis against the filing room, every cell from a measurement or a cited figure.

    ``crashes`` and ``price`` are this lesson's tables (index: policy; ``lost`` and
    ``acknowledged``; ``writes_per_s`` and ``p99_ms``), ``source`` says where they come from
    (this run, or the reference run). Latencies are notebook 02's measured presets.
    """
    from .latency import preset

    wb, room = preset("redis-loopback"), preset("postgres-loopback")

    def lost(policy):
        row = crashes.loc[policy]
        return f"{int(row['lost']):,} of {int(row['acknowledged']):,}"

    def speed(policy):
        row = price.loc[policy]
        return f"{row['writes_per_s']:,.0f}/s, p99 {row['p99_ms']:.2f} ms"

    rows = [
        ("read latency p50 / p99 (loopback)",
         f"{wb.median * 1e3:.2f} / {wb.quantile(0.99) * 1e3:.2f} ms",
         f"{room.median * 1e3:.2f} / {room.quantile(0.99) * 1e3:.2f} ms",
         "02, simlab.latency presets (measured)"),
        ("acknowledged writes lost, kill -9, no persistence", lost("none"),
         "0 (a commit is in the WAL before it returns)", f"10 ({source}); PostgreSQL docs"),
        ("... with RDB snapshots", lost("rdb"), "", f"10 ({source})"),
        ("... with AOF everysec", lost("aof-everysec"), "", f"10 ({source})"),
        ("acknowledged writes lost, power cut, AOF everysec",
         f"~{loss_window('aof-everysec', 'machine')['mean']:.1f} s of writes", "0 (fsync at "
         "commit, like AOF always)", "10 (model)"),
        ("one client's writes, no persistence / AOF always", f"{speed('none')} / "
         f"{speed('aof-always')}", "", f"10 ({source})"),
        ("capacity", "the RAM of one machine (maxmemory)", "the disks", "04, 08"),
        ("cost per GB-month", f"${RAM_DOLLARS_PER_GB_MONTH:.2f} (RAM)",
         f"${DISK_DOLLARS_PER_GB_MONTH:.2f} (SSD volume)", "04 (illustrative), AWS gp3 list "
         "price"),
        ("query power", "by key: GET, ranges of a sorted set", "SQL: joins, aggregates, "
         "ad hoc filters", "02 (the shop's dashboard)"),
    ]
    return pd.DataFrame(rows, columns=["", "Redis (the whiteboard)", "the database (the "
                                       "filing room)", "measured in"]).set_index("")
