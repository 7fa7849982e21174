"""Lesson 10: the durability models, and crashes of private real servers (kill -9, restart on
the same folder, count the acknowledged writes lost)."""
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simlab import durability as model
from simlab.live import PrivateRedis, redis_server_binary
from simlab.live import durability as live
from simlab.live.server import FOLDER_PREFIX

from conftest import NO_SERVER

real = pytest.mark.skipif(not redis_server_binary(), reason=NO_SERVER)


# --- the models --------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["aof-no", "aof-everysec", "aof-always"])
def test_process_crash_loses_nothing_with_any_aof(policy):
    assert model.loss_window(policy, "process") == pytest.approx(
        {"mean": 0.0, "max": 0.0, "why": model.loss_window(policy, "process")["why"]})
    assert model.expected_loss(policy, 5000, "process") == 0


def test_machine_crash_windows():
    kernel = dict(dirty_expire=30.0, writeback_interval=5.0)
    assert model.loss_window("aof-always", "machine")["max"] == 0
    everysec = model.loss_window("aof-everysec", "machine")
    assert (everysec["mean"], everysec["max"]) == (0.5, 2.0)
    no = model.loss_window("aof-no", "machine", **kernel)
    assert no["mean"] == pytest.approx(32.5 / 2) and no["max"] == 35.0
    assert model.expected_loss("aof-everysec", 2000, "machine") == pytest.approx(1000)
    # a larger writeback delay means a larger window
    assert model.loss_window("aof-no", "machine", dirty_expire=60, writeback_interval=5)[
        "mean"] > no["mean"]


def test_rdb_window_is_half_a_snapshot_period():
    # Redis compares whole seconds: save S 1 snapshots every S + 1 seconds
    assert model.snapshot_period(1) == 2.0 and model.snapshot_period(60) == 61.0
    w = model.loss_window("rdb", "process", save_seconds=60, save_duration=0.5)
    assert w["mean"] == pytest.approx(0.5 + 30.5)
    assert model.expected_loss("rdb", 100, save_seconds=1) == pytest.approx(100.0)
    # a power cut loses no more than a process crash with RDB: the snapshot is fsync-ed
    assert model.loss_window("rdb", "machine") == model.loss_window("rdb", "process")


def test_none_loses_everything_written():
    assert model.loss_window("none")["mean"] == np.inf
    assert model.expected_loss("none", 1000, duration=3.0) == 3000
    with pytest.raises(ValueError, match="duration"):
        model.expected_loss("none", 1000)


def test_loss_table_shape():
    table = model.loss_table((100, 1000), save_seconds=60)
    assert len(table) == len(model.POLICIES) * 2
    row = table[(table["policy"] == "aof-everysec") & (table["crash"] == "machine")].iloc[0]
    assert row["lost_at_1000_per_s"] == pytest.approx(500)


@pytest.mark.parametrize("call, words", [
    (lambda: model.loss_window("aof-sometimes"), "policy"),
    (lambda: model.loss_window("rdb", "meteor"), "crash"),
    (lambda: model.expected_loss("rdb", -1), "write_rate must be a finite number >= 0"),
    (lambda: model.expected_loss("none", 1, duration=-2), "duration"),
    (lambda: model.snapshot_period(0), "save_seconds must be an integer >= 1"),
    (lambda: model.fit_load_rate([1], [1]), "length >= 2"),
    (lambda: model.restart_seconds(10, bytes_per_s=0), "bytes_per_s must be positive"),
    (lambda: model.replication_loss(-1, 1), "must be >= 0"),
    (lambda: live.process_crash("rdb", write_rate=0), "write_rate"),
])
def test_bad_input_names_the_parameter(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_fit_load_rate_recovers_a_line():
    sizes = np.array([1e6, 1e7, 1e8, 3e8])
    fit = model.fit_load_rate(sizes, 0.01 + sizes / 2e8)
    assert fit["bytes_per_s"] == pytest.approx(2e8) and fit["base_s"] == pytest.approx(0.01)
    assert model.restart_seconds(4e8, **fit) == pytest.approx(2.01)
    with pytest.raises(ValueError, match="does not grow"):
        model.fit_load_rate([1, 2, 3], [3, 2, 1])


def test_comparison_table_is_built_from_the_measurements():
    crashes = pd.DataFrame({"lost": [123, 45, 0], "acknowledged": [123, 900, 800]},
                           index=["none", "rdb", "aof-everysec"])
    price = pd.DataFrame({"writes_per_s": [7000.0, 150.0], "p99_ms": [0.3, 20.0]},
                         index=["none", "aof-always"])
    table = model.comparison_table(crashes, price, source="test")
    text = table.to_string()
    assert "123 of 123" in text and "45 of 900" in text and "0 of 800" in text
    assert "7,000/s" in text and "150/s, p99 20.00 ms" in text
    assert "0.14 / 0.19 ms" in text            # notebook 02's measured loopback GET
    assert table["measured in"].str.len().min() > 0


def test_reference_run_holds_every_table():
    ref = live.load_reference()
    assert ref["command"] == live.REFERENCE_COMMAND
    assert set(ref["process_crash"].index) == set(model.POLICIES)
    crashes = ref["process_crash"]
    assert crashes.loc["none", "lost"] == crashes.loc["none", "acknowledged"] > 0
    assert (crashes.loc[["aof-no", "aof-everysec", "aof-always"], "lost"] == 0).all()
    rdb = ref["rdb_crashes"]
    idle = ~rdb["save_in_progress"]
    assert idle.sum() >= len(rdb) - 3
    assert (rdb["lost"][idle] == rdb["changes_since_save"][idle]).all()
    assert (rdb["lost"] <= rdb["changes_since_save"]).all()
    assert set(ref["load_time"]["format"]) == {"rdb", "aof"}
    assert ref["load_time"]["disk_bytes"].max() > 100e6      # "a few hundred MB"


# --- PrivateRedis: crash and restart on the same folder ------------------------------------

def _my_folders():
    mine = []
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        try:
            if int((folder / "owner.pid").read_text()) == os.getpid():
                mine.append(folder)
        except (OSError, ValueError):
            pass
    return mine


@real
def test_crash_and_restart_keep_the_folder_and_the_aof():
    before = set(_my_folders())
    with PrivateRedis({"appendonly": "yes", "appendfsync": "always"}) as server:
        folder, old_pid, old_watchdog = server.folder, server.pid, server.watchdog_pid
        r = server.client()
        r.set("wb:durable", "yes")
        server.crash()
        assert not server.running and Path(folder).is_dir()
        with pytest.raises(RuntimeError, match="not running"):
            server.crash()
        server.restart()
        assert server.folder == folder and server.pid != old_pid
        assert server.watchdog_pid not in (None, old_watchdog)    # re-armed for the new pid
        live.wait_loaded(server.client())
        assert server.client().get("wb:durable") == "yes"
        server.client().config_get("appendonly")                 # still ours: owned
    assert not Path(folder).exists()
    assert set(_my_folders()) == before
    with pytest.raises(RuntimeError, match="start"):
        server.restart()


@real
def test_crash_kills_a_snapshot_in_progress():
    from simlab.live.server import _children, pid_alive
    with PrivateRedis(live.persistence_config("none")) as server:
        r = server.client()
        r.execute_command("DEBUG", "POPULATE", 200_000, "wb:big:", 100)
        r.config_set("rdb-key-save-delay", 100)    # microseconds a key: a save of ~20 s
        r.bgsave()
        children = []
        for _ in range(100):
            children = _children(server.pid)
            if children:
                break
            time.sleep(0.01)
        assert children, "the snapshot child did not start"
        server.crash()
        for _ in range(100):
            if not any(pid_alive(c) for c in children):
                break
            time.sleep(0.01)
        assert not any(pid_alive(c) for c in children)


@real
def test_without_persistence_the_settings_stay_off():
    with PrivateRedis() as server:
        r = server.client()
        assert r.config_get("save")["save"] == "" and r.config_get("appendonly")[
            "appendonly"] == "no"
        r.set("wb:gone", 1)
        server.restart()                           # crashes it first
        live.wait_loaded(server.client())
        assert server.client().get("wb:gone") is None
        assert not list(Path(server.folder).glob("*.rdb"))


# --- the process crash, for real ------------------------------------------------------------

@real
def test_no_persistence_loses_every_acknowledged_write():
    result = live.process_crash("none", write_rate=1500, crash_at=0.4)
    assert result["acknowledged"] > 100
    assert result["lost"] == result["acknowledged"] == result["model_lost"]
    assert result["lost_ids_range"] == [0, result["acknowledged"] - 1]


@real
@pytest.mark.parametrize("policy", ["aof-always", "aof-everysec", "aof-no"])
def test_aof_loses_no_acknowledged_write_under_kill_9(policy):
    # kill -9 leaves the page cache alone: what write() handed to the kernel survives
    result = live.process_crash(policy, write_rate=1500, crash_at=0.6)
    assert result["acknowledged"] > 50
    assert result["lost"] == 0 and result["lost_ids_range"] is None


@real
def test_rdb_loses_exactly_the_writes_since_the_last_snapshot():
    result = live.process_crash("rdb", write_rate=1000, crash_at=2.2, crash_phase=0.6)
    # the count INFO persistence gave just before the crash (no snapshot was running half
    # way through the cycle), and the newest ones
    assert not result["save_in_progress"]
    assert result["lost"] == result["changes_since_save"]
    assert 0 < result["lost"] < result["acknowledged"]
    assert result["lost_are_newest"]
    assert result["lost_ids_range"][1] == result["acknowledged"] - 1


@real
@pytest.mark.slow
def test_rdb_model_within_ten_percent_of_the_mean_over_crashes():
    crashes = live.rdb_crashes(8, write_rate=1000)
    idle = ~crashes["save_in_progress"]
    assert (crashes["lost"][idle] == crashes["changes_since_save"][idle]).all()
    assert crashes["lost"].mean() == pytest.approx(crashes["model_lost"].mean(), rel=0.10), \
        crashes[["crash_at", "acknowledged", "lost", "changes_since_save", "save_in_progress",
                 "model_lost"]].to_string()


@real
def test_failover_loses_what_the_offsets_say_was_unreplicated():
    """A replica that keeps up loses nothing; one stopped for the last 0.3 s of 64 KB writes
    loses acknowledged writes, as many as the offsets bound; with WAIT, none."""
    kept_up, behind, waited = (live.failover(**options) for options in live.FAILOVERS)
    assert kept_up["acknowledged"] > 50 and kept_up["lost"] == 0, kept_up
    assert behind["lost"] > 0, behind
    assert behind["bound_writes"] - 1 <= behind["lost"] <= behind["bound_writes"], behind
    assert waited["acknowledged"] > 0 and waited["lost"] == 0, waited
    with pytest.raises(ValueError, match="lag must be shorter than seconds"):
        live.failover(seconds=0.2, lag=0.2)


@real
def test_load_time_and_rewrite():
    rdb, aof = live.load_time("rdb", 20_000), live.load_time("aof", 20_000)
    assert 0 < rdb["disk_bytes"] < aof["disk_bytes"]
    assert rdb["load_s"] >= 0 and aof["ready_s"] > 0
    rewrite = live.aof_rewrite(keys=200, updates=10)
    assert rewrite["aof_bytes_after"] < rewrite["aof_bytes_before"] / 3


@real
def test_cold_start_after_restart(room):
    import simlab
    w = simlab.zipf(n_keys=300, alpha=1.0, n_requests=600, seed=2)
    cold = live.cold_start("none", w, room, window=100)
    warm = live.cold_start("rdb", w, room, window=100)
    assert cold["hit_ratio"].iloc[0] < warm["hit_ratio"].iloc[0]
    assert warm["hit_ratio"].iloc[0] > 0.9      # every key of the first run came back


@real
def test_experiments_leave_no_folder_behind():
    before = set(_my_folders())
    live.process_crash("aof-everysec", write_rate=500, crash_at=0.2)
    live.write_price("none", seconds=0.1)
    assert set(_my_folders()) == before


def test_missing_binary_is_one_clear_sentence(monkeypatch):
    monkeypatch.setattr(live, "redis_server_binary", lambda: None)
    with pytest.raises(live.RedisServerNotFound, match="no redis-server binary on the PATH"):
        live.process_crash("none", crash_at=0.1)


# --- simlab durability ----------------------------------------------------------------------

def test_cli_without_binary_says_one_line(monkeypatch, capsys):
    from simlab import cli
    monkeypatch.setattr(live, "redis_server_binary", lambda: None)
    code = cli.main(["durability", "--persistence", "none", "--write-rate", "10",
                     "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "no redis-server binary" in err


@real
def test_cli_json(capsys):
    import json

    from simlab import cli
    assert cli.main(["durability", "--persistence", "none", "--write-rate", "500",
                     "--duration", "0.4", "--seed", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"acknowledged", "lost", "lost_ids_range", "restart_s", "write_p99_ms",
                        "model_lost", "seed", "elapsed_s"}
    assert out["lost"] == out["acknowledged"] > 0 and out["seed"] == 2
