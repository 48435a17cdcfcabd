"""A Fleet as built, before it starts: its options from the caller and the scenario, and its seed."""

import logging

import pytest

from firmware_sim import Fleet, load_csv
from firmware_sim.faults import Scenario
from tests.firmware_sim.factories import TEST_KEYS

O_MON = load_csv()
URL = "mqtt://127.0.0.1:1"


def scenario_with_fleet_table(**table) -> Scenario:
    return Scenario("fleet-table", {"vi": "bảng fleet", "en": "a fleet table"}, fleet=table)


def test_a_scenario_s_fleet_table_sets_what_the_caller_left_out_and_the_caller_wins_the_rest():
    scenario = scenario_with_fleet_table(heartbeat_s=10, keepalive=12, connect_rate=100, reconnect_min_s=0.5)
    fleet = Fleet(O_MON[:3], URL, scenario=scenario, connect_rate=5, seed=1, keys=TEST_KEYS)
    assert (fleet.heartbeat_s, fleet.settings.keepalive, fleet.connect_rate, fleet.settings.reconnect_min_s) == (
        10, 12, 5, 0.5)


def test_without_a_scenario_or_arguments_the_fleet_takes_the_defaults():
    fleet = Fleet(O_MON[:3], URL, seed=1, keys=TEST_KEYS)
    assert (fleet.heartbeat_s, fleet.settings.keepalive, fleet.connect_rate, fleet.settings.reconnect_min_s) == (
        30.0, 30, 200.0, 1.0)


def test_a_library_scenario_s_fleet_table_applies_by_name():
    assert Fleet(O_MON[:3], URL, scenario="storm-after-restoration", seed=1, keys=TEST_KEYS).connect_rate == 100


def test_a_fleet_given_no_seed_draws_one_logs_it_and_keeps_it(caplog):
    with caplog.at_level(logging.INFO, logger="firmware_sim.fleet"):
        fleet = Fleet(O_MON[:3], URL, keys=TEST_KEYS)
    assert isinstance(fleet.seed, int) and f"pass --seed {fleet.seed} to repeat" in caplog.text
    assert fleet.plan.seed == fleet.seed


def test_a_shard_without_a_seed_is_refused_rather_than_seeded_alike_in_secret():
    with pytest.raises(ValueError, match="a shard needs a seed"):
        Fleet(O_MON, URL, scenario="clock-skew", shard=(0, 2), keys=TEST_KEYS)
