"""What every lesson's checks share (simlab/checks/_common.py): one kind line for any value."""
import pytest

from simlab.checks._common import _raised, _short


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("SIMLAB_STRICT_CHECKS", raising=False)


def test_a_number_too_long_to_print_is_named_by_its_size():
    assert _short(10**5000) == "a number of about 5,001 digits"     # repr() would raise
    assert _short(-(10**5000)) == "a number of about 5,001 digits"
    assert _short(10**400).endswith("...") and len(_short(10**400)) == 60


def test_an_error_message_ending_in_a_full_stop_gets_one_full_stop(capsys):
    verdict = _raised("count_view", ConnectionError("Connection refused."))
    assert "raised ConnectionError: Connection refused. " not in verdict.message
    assert "Connection refused.." not in verdict.message
    assert "count_view raised ConnectionError: Connection refused." in verdict.message
