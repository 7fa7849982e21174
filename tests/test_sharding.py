"""simlab.sharding: Redis Cluster's key slots, keys and load per shard, the near-cache model."""
import numpy as np
import pytest

import simlab
from simlab import sharding


def test_crc16_test_vector():
    assert sharding.crc16(b"123456789") == 0x31C3


@pytest.mark.parametrize("key,hashed", [
    ("foo", b"foo"), ("{user1000}.following", b"user1000"), ("{user1000}.followers", b"user1000"),
    ("foo{}{bar}", b"foo{}{bar}"), ("foo{{bar}}zap", b"{bar"), ("foo{bar}{zap}", b"bar"),
    ("{}", b"{}"), ("}{x}", b"x"), ("{", b"{"), (b"\xff{\x00}", b"\x00"), ("ü{é}", "é".encode()),
])
def test_hash_tag_rules(key, hashed):
    assert sharding.hash_tag(key) == hashed
    assert sharding.key_slot(key) == sharding.crc16(hashed) % 16384


def test_known_slots():
    assert sharding.key_slot("foo") == 12182
    assert sharding.key_slot("{user1000}.following") == sharding.key_slot("{user1000}.followers")


def test_bad_key_is_named():
    with pytest.raises(TypeError, match="key must be a str, bytes or number"):
        sharding.key_slot(["a"])


def test_slot_owners_split_like_redis_cli():
    owners = sharding.slot_owners(3)
    assert [int(np.flatnonzero(owners == s)[[0, -1]][i]) for s in range(3) for i in (0, 1)] == [
        0, 5460, 5461, 10922, 10923, 16383]
    assert np.bincount(sharding.slot_owners(1000)).min() >= 16
    with pytest.raises(ValueError, match="n_shards must be at most 16384"):
        sharding.slot_owners(20000)


def test_keys_in_slots_land_there():
    names = sharding.keys_in_slots([0, 7, 16383], 3)
    assert len(names) == 9
    assert sorted({sharding.key_slot(n) for n in names}) == [0, 7, 16383]


def test_hot_shard_ratio_grows_with_shards_under_zipf():
    table = sharding.shard_table((3, 10, 100, 1000), n_keys=50_000, alpha=1.0)
    ratios = table["load_max_over_mean"].to_numpy()
    assert np.all(np.diff(ratios) > 0)
    top = simlab.workloads.zipf_probabilities(50_000, 1.0)[0]
    assert ratios[-1] >= top * 1000           # the hottest key alone sets the floor
    uniform = sharding.shard_table((3, 1000), n_keys=50_000, alpha=0.0)
    assert uniform["load_max_over_mean"].iloc[0] < 1.02


def test_near_cache_takes_the_hot_keys_off_the_shards():
    plain = sharding.shard_table((100,), n_keys=50_000, alpha=1.0)
    near = sharding.shard_table((100,), n_keys=50_000, alpha=1.0, near_cache=100)
    assert near["load_max_over_mean"].iloc[0] < plain["load_max_over_mean"].iloc[0] / 2
    assert 0.2 < near["near_cache_share"].iloc[0] < 0.6


def test_hash_tags_cost_balance():
    tagged = sharding.shard_table((30,), n_keys=50_000, alpha=0.0, keys_per_tag=1000)
    plain = sharding.shard_table((30,), n_keys=50_000, alpha=0.0)
    assert tagged["keys_per_shard_max"].iloc[0] > 1.3 * plain["keys_per_shard_max"].iloc[0]


def test_sampled_load_is_seeded():
    a = sharding.shard_load(10, n_keys=10_000, n_requests=50_000, seed=3)
    b = sharding.shard_load(10, n_keys=10_000, n_requests=50_000, seed=3)
    assert a.equals(b) and abs(a["load"].sum() - 1) < 1e-9


def test_near_cache_model_against_an_lru_simulation():
    w = simlab.zipf(5_000, 1.0, 100_000, seed=4)
    exact = float(simlab.lru_curve(w, sizes=[200])["hit_ratio"].iloc[0])
    model = sharding.near_cache_model(5_000, 1.0, 200, near_latency=1e-6,
                                      whiteboard_latency=1e-4)
    assert abs(model["near_hit_ratio"] - exact) < 0.02
    none = sharding.near_cache_model(5_000, 1.0, 0, whiteboard_latency=1e-4)
    assert none["near_hit_ratio"] == 0 and none["mean_latency"] == pytest.approx(1e-4)
    assert model["mean_latency"] < none["mean_latency"]
    with pytest.raises(ValueError, match="near_size must be a non-negative integer"):
        sharding.near_cache_model(5_000, 1.0, -1)


def test_cluster_command_prints_the_load_of_the_hot_shard():
    import json
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "simlab.cli", "cluster", *args],
                              capture_output=True, text=True, timeout=120)

    out = json.loads(run("--shards", "100", "--keys", "100000", "--json").stdout)
    table = sharding.shard_table([100], n_keys=100_000, alpha=1.0).iloc[0]
    assert out["load_max_over_mean"] == pytest.approx(table["load_max_over_mean"])
    assert out["keys_per_shard_mean"] == 1000 and out["seed"] is None
    assert "near_cache_hit_ratio" not in out
    drawn = json.loads(run("--shards", "3", "--requests", "100000", "--near-cache", "100",
                           "--json").stdout)
    assert isinstance(drawn["seed"], int) and 0 < drawn["near_cache_hit_ratio"] < 1
    for bad, name in ((["--shards", "0"], "--shards"), (["--shards", "20000"], "--shards"),
                      (["--shards", "3", "--keys", "1e9"], "--keys"),
                      (["--shards", "3", "--zipf", "nan"], "--zipf")):
        done = run(*bad)
        assert done.returncode == 2 and name in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_hash_tags_share_puts_that_share_of_the_keys_on_one_shard():
    tagged = sharding.tagged_keys(100_000, 0.2)
    assert tagged.sum() == pytest.approx(20_000, abs=2)      # evenly spread, no randomness
    assert tagged[:1000].sum() == pytest.approx(200, abs=2)  # hot keys tagged like cold ones
    names = sharding.key_names(100_000, hash_tags=0.2)
    assert {sharding.hash_tag(n) for n, t in zip(names, tagged) if t} == {b"0"}
    assert not any("{" in n for n, t in zip(names, tagged) if not t)
    plain = sharding.shard_load(30, n_keys=100_000, alpha=1.0)
    table = sharding.shard_load(30, n_keys=100_000, alpha=1.0, hash_tags=0.2)
    one = int(sharding.slot_owners(30)[sharding.key_slot("{0}")])
    untagged = np.array(sharding.key_slots(names))[~tagged]
    want = np.bincount(sharding.slot_owners(30)[untagged], minlength=30)
    want[one] += tagged.sum()
    assert (table["keys"].to_numpy() == want).all()
    assert table["load"].sum() == pytest.approx(1.0)
    popularity = simlab.workloads.zipf_probabilities(100_000, 1.0)
    assert table.loc[one, "load"] >= popularity[tagged].sum() > 0.15
    assert table["load"].max() == table.loc[one, "load"] > 1.9 * plain["load"].max()
    assert table.attrs["hash_tags"] == 0.2 and table.attrs["keys_per_tag"] is None
    # K keys per tag among the tagged ones; no share given: every key, K per tag (as before)
    grouped = sharding.key_names(10, 2, hash_tags=0.5)
    assert [sharding.hash_tag(n) for n in grouped if "{" in n] == [b"0", b"0", b"1", b"1", b"2"]
    assert sharding.key_names(4, 2) == ["item:{0}:0", "item:{0}:1", "item:{1}:2", "item:{1}:3"]
    assert sharding.key_names(3, 1) == ["item:0", "item:1", "item:2"]
    assert sharding.key_names(3, hash_tags=0.0) == sharding.key_names(3)
    for share in (0.0, 1.0):
        assert sharding.tagged_keys(50, share).sum() == 50 * share


@pytest.mark.parametrize("kwargs,message", [
    ({"hash_tags": 1.5}, "hash_tags must be a number between 0 and 1, got 1.5"),
    ({"hash_tags": -0.1}, "hash_tags must be a number between 0 and 1, got -0.1"),
    ({"keys_per_tag": 0}, "keys_per_tag must be a positive integer"),
])
def test_bad_hash_tags_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sharding.shard_load(3, n_keys=100, **kwargs)
    with pytest.raises(ValueError, match=message):
        sharding.key_names(100, **kwargs)


def test_cluster_command_hash_tags():
    import json
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "simlab.cli", "cluster", "--shards", "30",
                               *args], capture_output=True, text=True, timeout=120)

    out = json.loads(run("--hash-tags", "0.2", "--json").stdout)
    want = sharding.shard_table([30], n_keys=100_000, alpha=1.0, hash_tags=0.2).iloc[0]
    assert out["keys_per_shard_max"] == want["keys_per_shard_max"] >= 20_000
    assert out["load_max_over_mean"] == pytest.approx(want["load_max_over_mean"])
    none = json.loads(run("--hash-tags", "0", "--json").stdout)
    assert none["load_max_over_mean"] < out["load_max_over_mean"]
    assert none == {**json.loads(run("--json").stdout), "elapsed_s": none["elapsed_s"]}
    runs = json.loads(run("--hash-tags", "0.2", "--keys-per-tag", "100", "--json").stdout)
    want = sharding.shard_table([30], n_keys=100_000, hash_tags=0.2, keys_per_tag=100).iloc[0]
    assert runs["keys_per_shard_max"] == want["keys_per_shard_max"]
    alone = json.loads(run("--keys-per-tag", "1000", "--json").stdout)
    want = sharding.shard_table([30], n_keys=100_000, hash_tags=1.0, keys_per_tag=1000).iloc[0]
    assert alone["keys_per_shard_max"] == want["keys_per_shard_max"]
    for bad in ("1.5", "-0.2", "nan", "lots"):
        done = run("--hash-tags", bad)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert f"argument --hash-tags: must be a number between 0 and 1, got '{bad}'" in (
            done.stderr)
    helptext = " ".join(run("--help").stdout.split())
    assert "--hash-tags SHARE share of the keys (0 to 1) that carry a {hash tag}" in helptext


def test_resp_length_is_what_redis_py_sends():
    import redis

    from simlab.live import cluster as live_cluster

    conn = redis.connection.Connection()
    for args in (("SET", "k", "v"), ("SET", "ü{x}:1", "0" * 10_000), ("SET", "k", 12345),
                 ("SET", b"\xff\x00", b""), ("PING",)):
        assert live_cluster.resp_length(*args) == len(b"".join(conn.pack_command(*args)))
    assert live_cluster.PING_BYTES == live_cluster.resp_length("PING") == 14


def test_writes_in_stream_finds_the_exact_prefix():
    from simlab.live.cluster import writes_in_stream

    lengths = [40, 41, 40, 45]
    assert writes_in_stream(lengths, 0) == (0, 0)
    assert writes_in_stream(lengths, 81) == (2, 0)
    assert writes_in_stream(lengths, 81 + 14) == (2, 1)       # a PING among them
    assert writes_in_stream(lengths, 166) == (4, 0)
    with pytest.raises(ValueError, match="stream_bytes must be the bytes of a prefix"):
        writes_in_stream(lengths, 82)
    with pytest.raises(ValueError, match="stream_bytes must be the bytes of a prefix"):
        writes_in_stream(lengths, 81 + 28)                    # two PINGs: more than allowed
    assert writes_in_stream(lengths, 81 + 28, max_pings=2) == (2, 2)
