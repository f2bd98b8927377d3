import time

import pytest

from bench.clock import RealClock, SimClock, WaitTimeout
from bench.units import Q_


def test_sim_clock_advances_listeners_in_bounded_steps():
    clock = SimClock(max_step=Q_(1, "s"))
    steps = []
    clock.add_listener(lambda t, dt: steps.append(dt))
    clock.sleep(Q_(10.5, "s"))
    assert clock.now().to("s").magnitude == pytest.approx(10.5)
    assert sum(steps) == pytest.approx(10.5) and max(steps) <= 1.0 + 1e-9 and len(steps) == 11


def test_sim_clock_periodic_callbacks_follow_virtual_time():
    clock = SimClock()
    ticks = []
    h = clock.every(Q_(0.1, "s"), ticks.append)
    clock.sleep(Q_(1, "s"))
    assert len(ticks) == 10 and ticks[0] == pytest.approx(0.1)
    clock.cancel(h)
    clock.sleep(Q_(1, "s"))
    assert len(ticks) == 10


def test_wait_until_returns_elapsed_virtual_time():
    clock = SimClock()
    elapsed = clock.wait_until(lambda: clock.now_s() >= 30, timeout=Q_(60, "s"), poll=Q_(5, "s"))
    assert elapsed.to("s").magnitude == pytest.approx(30)


def test_wait_until_times_out_naming_what_it_waited_for():
    clock = SimClock()
    with pytest.raises(WaitTimeout, match="contactor open"):
        clock.wait_until(lambda: False, timeout=Q_(2, "s"), poll=Q_(0.5, "s"), what="contactor open")
    assert clock.now_s() == pytest.approx(2)


def test_one_virtual_hour_takes_well_under_a_second_of_wall_time():
    clock = SimClock(max_step=Q_(1, "s"))
    integrated = []
    clock.add_listener(lambda t, dt: integrated.append(dt))
    t0 = time.perf_counter()
    clock.sleep(Q_(1, "h"))
    wall = time.perf_counter() - t0
    assert sum(integrated) == pytest.approx(3600)
    # a ratio with a generous bound (the suite also runs on a loaded machine): at least 60x faster than
    # real time proves the clock never sleeps; the speed itself is measured in benchmarks/plant_speed.py
    assert wall < 3600 / 60, f"one virtual hour took {wall:.3f} s of wall time"


def test_sleep_requires_a_time_quantity():
    with pytest.raises(TypeError):
        SimClock().sleep(5)
    with pytest.raises(ValueError):
        SimClock().sleep(Q_(-1, "s"))


def test_real_clock_sleeps_for_real():
    clock = RealClock()
    t0 = time.monotonic()
    clock.sleep(Q_(20, "ms"))
    assert time.monotonic() - t0 >= 0.019
    clock.shutdown()


def test_periodic_faster_than_max_step_never_skips_physics():
    clock = SimClock(max_step=Q_(30, "s"))
    steps = []
    clock.add_listener(lambda t, dt: steps.append(dt))
    ticks = []
    clock.every(Q_(1, "s"), ticks.append)
    clock.advance(30.0)
    assert len(ticks) == 30 and abs(sum(steps) - 30.0) < 1e-9 and clock.now_s() == 30.0
