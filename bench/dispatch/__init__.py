"""Dispatch optimisation: peak-shaving and time-of-use schedules from a site's load and tariff.

A linear programme (HiGHS through highspy) chooses charge and discharge power per interval to
minimise the electricity bill (energy per time-of-use period, monthly demand charges, export
credit) plus the battery's wear, within its power, SoC window and throughput limit. The schedule
is written as a duty cycle (bench/dutycycle.py) that the plans replay; economics, sizing sweeps
and an HTML page go beside it. One concept per module:

  load        the site's load and PV: reading, DST, gaps, data quality
  tariff      time-of-use periods, demand charges, export, coverage check
  battery     ratings, efficiencies, SoC window, wear limit, costs; sizing from passports
  model       the LP as sparse arrays, by named families
  solve       HiGHS, with infeasible/unbounded explained by family
  optimiser   build + solve + the throughput cap by its Lagrange price
  schedule    the solved schedule and its constraint checks
  economics   bills before/after, savings, NPV, payback
  sizing      sweeps, tariff differential threshold, throughput/lifetime trade
  predict     what a replay of the schedule should measure
  output, html  files written by `bench dispatch`
  synthetic   a seeded synthetic site load for examples and benchmarks
"""
