"""Exercise checks, one module per lesson: kind feedback, never a bare traceback.

Each ``check_*`` prints one short verdict (and a hint when the answer is not there yet) and
returns a :class:`Verdict`, true when the answer is right. With ``SIMLAB_STRICT_CHECKS=1`` in the
environment (how the test suite runs the solution notebooks), a wrong answer raises
``AssertionError`` instead, so a broken solution cannot pass silently. A check never prints the
expected value: it names what is off and hints how to find it.

Checks of atomicity run the learner's function through :class:`simlab.checks._race.RaceLab`: a
private fakeredis server whose clients take turns round trip by round trip, so a race that can
happen does happen, every time; the lab's log of commands lets the check name the race
("clients 1 and 2 both read 7 ... both wrote 8") and look between round trips, where a crash
would strike. Numeric feedback uses ``_how_far`` (too low, far too high...) and known mistakes.
"""
from ._common import GOOD, NOT_YET, Verdict
from .lesson00 import check_analogy
from .lesson01 import check_session, check_view_counter
from .lesson02 import check_speedup, check_fanout
from .lesson03 import check_db_share, check_cache_aside
from .lesson04 import check_smallest_size, check_alpha_prediction
from .lesson05 import check_ttl_for_staleness, check_fixed_ttl_hit_ratio
from .lesson06 import check_fixed_window, check_sliding_log_memory
from .lesson07 import check_pool_size, check_crash_safe_take
from .lesson08 import check_keys_that_fit, check_scan_policy
from .lesson10 import check_machine_crash_loss, check_restart_time, check_survivors
from .lesson11 import check_hot_shard_ratio, check_near_cache_size, check_same_slot
from .lesson12 import check_design, check_monthly_cost
from .lesson09 import (check_release, check_stale_read_share, check_stampede_size,
                       check_write_behind_loss)

__all__ = ['Verdict', 'GOOD', 'NOT_YET', 'check_analogy', 'check_session', 'check_view_counter', 'check_speedup', 'check_fanout', 'check_db_share', 'check_cache_aside', 'check_smallest_size', 'check_alpha_prediction', 'check_ttl_for_staleness', 'check_fixed_ttl_hit_ratio', 'check_fixed_window', 'check_sliding_log_memory', 'check_pool_size', 'check_crash_safe_take', 'check_keys_that_fit', 'check_scan_policy', 'check_stale_read_share', 'check_release', 'check_stampede_size', 'check_write_behind_loss', 'check_survivors', 'check_machine_crash_loss', 'check_restart_time', 'check_same_slot', 'check_hot_shard_ratio', 'check_near_cache_size', 'check_design', 'check_monthly_cost']
