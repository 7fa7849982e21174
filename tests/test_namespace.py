"""Two learners, one server: each learner's keys live in a namespace of their own.

The unit tests pin the rules (where the name comes from, what it may contain, what cleanup
may delete); the last test runs notebooks 01 and 03 for four learners at once against one
shared private redis-server, as a class would.
"""
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

import simlab
from simlab.live.client import cleanup_course
from simlab.live import client as live_client
from simlab.live.basics import counter_race, run_clients

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(live_client, "_FAKE_SERVER", None)
    return simlab.connect()


def test_whiteboard_user_names_the_namespace(monkeypatch):
    monkeypatch.setenv("WHITEBOARD_USER", "ada-lovelace_1.x")
    assert live_client.namespace() == "wb:ada-lovelace_1.x:"
    assert simlab.key("user", 42) == "wb:ada-lovelace_1.x:user:42"


@pytest.mark.parametrize("bad", ["a:b", "a b", "ada*", "a?", "[ab]", "back\\slash", "-lead",
                                 "x" * 33, "é", "a\nb"])
def test_a_bad_whiteboard_user_is_refused_by_name(monkeypatch, bad):
    monkeypatch.setenv("WHITEBOARD_USER", bad)
    with pytest.raises(ValueError) as info:
        simlab.key("user", 1)
    message = str(info.value)
    assert message.startswith("WHITEBOARD_USER must be 1 to 32 letters") and repr(bad) in message


def test_without_whiteboard_user_the_os_user_and_host(monkeypatch):
    monkeypatch.delenv("WHITEBOARD_USER", raising=False)
    monkeypatch.setattr(live_client.getpass, "getuser", lambda: "Jo Smith")
    monkeypatch.setattr(live_client.socket, "gethostname", lambda: "Lab PC*7.example.org")
    live_client._machine_learner.cache_clear()
    try:
        name = live_client.learner_name()
        assert re.fullmatch(r"jo-smith\.lab-pc-7-[0-9a-f]{6}", name)
        assert live_client.learner_name() == name          # stable
        monkeypatch.setattr(live_client.getpass, "getuser", lambda: "ada")
        monkeypatch.setattr(live_client.socket, "gethostname", lambda: "lab1.example.org")
        live_client._machine_learner.cache_clear()
        assert live_client.learner_name() == "ada.lab1"
    finally:
        live_client._machine_learner.cache_clear()


def test_without_any_name_a_random_one_per_kernel(monkeypatch):
    def no_user():
        raise KeyError("getpwuid(): uid not found: 12345")

    monkeypatch.delenv("WHITEBOARD_USER", raising=False)
    monkeypatch.setattr(live_client.getpass, "getuser", no_user)
    live_client._machine_learner.cache_clear()
    try:
        first = live_client.learner_name()
        assert re.fullmatch(r"anon-[0-9a-f]{8}", first)
        assert live_client.learner_name() == first          # the same for this kernel
    finally:
        live_client._machine_learner.cache_clear()


def test_cleanup_deletes_only_this_learners_keys(fake, monkeypatch):
    for learner in ("alice", "bob", "alice2"):
        monkeypatch.setenv("WHITEBOARD_USER", learner)
        for i in range(600):
            fake.set(simlab.key("tmp", i), i)
    fake.set("wb:legacy", "x")
    fake.set("their-own", "x")
    monkeypatch.setenv("WHITEBOARD_USER", "alice")
    assert simlab.cleanup(fake) == 600
    assert len(list(fake.scan_iter(match="wb:bob:*"))) == 600
    assert len(list(fake.scan_iter(match="wb:alice2:*"))) == 600      # alice* is not alice:
    assert fake.get("wb:legacy") == "x" and fake.get("their-own") == "x"
    with pytest.raises(ValueError, match="prefix must be your own namespace"):
        simlab.cleanup(fake, prefix="wb:")
    assert cleanup_course(fake, confirm="all learners") == 1200 + 1
    assert fake.get("their-own") == "x" and not list(fake.scan_iter(match="wb:*"))


def test_cleanup_prefix_is_matched_literally_and_must_be_the_learners_own(fake, monkeypatch):
    monkeypatch.setenv("WHITEBOARD_USER", "alice")
    fake.set("wb:alice:a*:1", 1)
    fake.set("wb:alice:ab:1", 1)
    fake.set("wb:bob:user:1", "bob's")
    assert simlab.cleanup(fake, prefix="wb:alice:a*:") == 1
    assert fake.get("wb:alice:ab:1") == "1"
    for prefix in ("user:", "", "wb:", "wb:bob:", "wb:alic", "wb:*", 42):
        with pytest.raises(ValueError, match=r"prefix must be your own namespace 'wb:alice:'"):
            simlab.cleanup(fake, prefix=prefix)
    assert fake.get("wb:bob:user:1") == "bob's"
    assert simlab.cleanup(fake, prefix="wb:alice:") == 1


@pytest.mark.parametrize("confirm", ["", "yes", "all", True])
def test_cleanup_course_needs_its_confirmation_word_for_word(fake, confirm):
    fake.set("wb:bob:user:1", "bob's")
    with pytest.raises(ValueError, match="confirm must be 'all learners'"):
        cleanup_course(fake, confirm=confirm)
    assert fake.get("wb:bob:user:1") == "bob's"


def test_counter_race_survives_someone_elses_cleanup(fake):
    stop = threading.Event()

    def careless_cleaner():                # a whole-course cleanup, as old simlab did
        while not stop.is_set():
            cleanup_course(fake, confirm="all learners")

    cleaner = threading.Thread(target=careless_cleaner)
    cleaner.start()
    try:
        for method in ("get_set", "incr"):
            result = counter_race(fake, method=method, workers=4, per_worker=100)
            assert result["expected"] == 400 and 0 <= result["actual"] <= 400
    finally:
        stop.set()
        cleaner.join()


def test_two_counter_races_at_once_do_not_share_a_counter(fake):
    results = run_clients(lambda: counter_race(fake, method="incr", workers=2, per_worker=150),
                          3)
    assert [r["actual"] for r in results] == [300, 300, 300]


RUNNER = """
import sys
import time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
for source, target in zip(sys.argv[1::2], sys.argv[2::2]):
    # four kernels starting at once can race for the same free TCP port (jupyter_client picks
    # ports by binding and releasing them): a kernel that dies before replying is started
    # again; a failing cell is a failure at once
    for attempt in range(4):
        nb = nbformat.read(source, as_version=4)
        try:
            NotebookClient(nb, timeout=600, startup_timeout=300, kernel_name="python3",
                           resources={"metadata": {"path": sys.argv[-1]}}).execute()
            break
        except CellExecutionError:
            raise
        except Exception as error:
            started = any(cell.get("execution_count") for cell in nb.cells
                          if cell.cell_type == "code")
            if attempt == 3 or started:        # only a kernel that never started is retried
                raise
            print(f"kernel start failed ({type(error).__name__}: {error}); again", flush=True)
            time.sleep(1.0 + attempt)
    nbformat.write(nb, target)
"""


def _text_outputs(path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if out.get("output_type") == "stream")


@pytest.mark.real
@pytest.mark.slow
def test_four_learners_share_one_server(private_redis, tmp_path):
    """Notebooks 01 and 03, four learners at once on one server: every run succeeds, each
    keeps 100% live/simulated agreement and loses no update, and nobody's cleanup deletes
    anybody else's keys."""
    bystander = simlab.connect(private_redis.url)
    bystander.set("wb:bystander:keep", "mine")       # a fifth learner, not running now
    bystander.set("not-the-course:keep", "theirs")
    learners = [f"learner{i}" for i in range(1, 5)]
    procs = {}
    for name in learners:
        folder = tmp_path / name
        folder.mkdir()
        env = dict(os.environ, WHITEBOARD_USER=name, REDIS_URL=private_redis.url)
        for unset in ("DATABASE_URL", "SIMLAB_STRICT_CHECKS"):
            env.pop(unset, None)
        args = []
        for nb in ("01_redis_basics", "03_cache_aside"):
            args += [str(ROOT / "notebooks" / f"{nb}.ipynb"), str(folder / f"{nb}.ipynb")]
        procs[name] = subprocess.Popen([sys.executable, "-c", RUNNER, *args,
                                        str(ROOT / "notebooks")], env=env, cwd=folder,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True)
        time.sleep(1.0)                # staggered starts: fewer kernels racing for ports
    outcomes = {name: (proc.wait(900), proc.stdout.read()) for name, proc in procs.items()}
    for name, (code, log) in outcomes.items():
        assert code == 0, f"{name}'s notebooks failed:\n{log[-3000:]}"
    for name in learners:
        basics = _text_outputs(tmp_path / name / "01_redis_basics.ipynb")
        assert re.search(r"incr: expected 800, got 800, lost 0", basics), basics
        aside = _text_outputs(tmp_path / name / "03_cache_aside.ipynb")
        agreement = re.search(r"same outcome, live and simulated: ([\d.]+)%", aside)
        assert agreement and float(agreement.group(1)) == 100.0, aside
    assert bystander.get("wb:bystander:keep") == "mine"
    assert bystander.get("not-the-course:keep") == "theirs"
    bystander.delete("wb:bystander:keep", "not-the-course:keep")
