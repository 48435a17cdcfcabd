"""Scenarios and their plan: the library, the checks that name a mistake, seeded choice, shards, time scale."""

from collections import Counter

import pytest

from firmware_sim import Fleet, load_csv
from firmware_sim.faults import (
    KINDS,
    ScenarioError,
    combine,
    library,
    library_names,
    load_scenario,
    parse_fault_flag,
    plan_faults,
)
from firmware_sim.roster import ClusterSpec
from tests.firmware_sim.factories import TEST_KEYS

O_MON = load_csv()


def periods(plan) -> list[tuple]:
    return [(a.fault.index, a.cid, a.start, a.end, a.cycle, tuple(sorted(a.params.items()))) for a in plan.afflictions]


# ----- the library


def test_the_library_holds_the_scenarios_testers_ask_for():
    assert {"normal-day", "power-cut-thoi-hoa", "flaky-3g", "clock-skew", "dead-amplifiers",
            "storm-after-restoration", "field-faults"} <= set(library_names())


def test_the_library_together_exercises_every_fault_kind():
    assert {fault.kind for scenario in library() for fault in scenario.faults} == set(KINDS)


def test_field_faults_hang_break_downloads_and_restart_a_few_clusters_each():
    plan = plan_faults(load_scenario("field-faults"), O_MON, seed=1)
    kinds = {a.fault.index: a.kind for a in plan.afflictions}
    taken = {kinds[index]: len(cids) for index, cids in plan.chosen.items()}
    assert {"silent", "failing_download", "slow_download", "checksum_mismatch", "reboot"} <= set(taken)
    assert all(1 <= count <= 0.05 * len(O_MON) + 1 for count in taken.values()), taken
    reboots = sorted(a.start for a in plan.afflictions if a.kind == "reboot")
    assert reboots[-1] - reboots[0] > 60, "a few at a time, not all at once"
    assert all(a.end is not None for a in plan.afflictions if a.kind in ("silent", "reboot", "offline"))


@pytest.mark.parametrize("scenario", library(), ids=lambda s: s.name)
def test_every_library_scenario_parses_and_each_fault_takes_clusters_of_the_o_mon_fleet(scenario):
    assert scenario.description["vi"] and scenario.description["en"]
    assert scenario.name == load_scenario(scenario.source).name
    plan = plan_faults(scenario, O_MON, seed=1)
    assert plan.warnings == []
    cids = {spec.cid for spec in O_MON}
    for fault in scenario.faults:
        assert plan.chosen[fault.index], f"fault {fault.index} ({fault.kind}) takes no cluster"
        assert set(plan.chosen[fault.index]) <= cids


def test_the_o_mon_fleet_has_456_clusters_in_7_wards():
    assert len(O_MON) == 456 and len({spec.ward for spec in O_MON}) == 7


def test_the_thoi_hoa_power_cut_takes_exactly_the_clusters_of_thoi_hoa():
    plan = plan_faults(load_scenario("power-cut-thoi-hoa"), O_MON, seed=1)
    assert plan.chosen[1] == [spec.cid for spec in O_MON if spec.ward == "thoi-hoa"] and len(plan.chosen[1]) == 58
    assert {(a.start, a.end) for a in plan.afflictions} == {(120.0, 720.0)}


def test_faults_of_one_group_take_the_same_clusters():
    plan = plan_faults(load_scenario("flaky-3g"), O_MON, seed=7)
    assert plan.chosen[1] == plan.chosen[2] == plan.chosen[3] and len(plan.chosen[1]) == 46


# ----- a mistake is named: file, fault, field


BAD = [
    ('name = "x"', "field 'description'"),
    ('name = "x"\n[description]\nvi = "a"\nen = "b"\n[[faults]]\nkind = "meteor"', "fault 1: field 'kind'"),
    ('name = "x"\n[description]\nvi = "a"\nen = "b"\n[[faults]]\nkind = "loss"\nrate = 1.5',
     "fault 1 (loss): field 'rate': must be at most 1"),
    ('name = "x"\n[description]\nvi = "a"\nen = "b"\n[[faults]]\nkind = "offline"\n[[faults]]\nkind = "delay"\n'
     'delay = 2', "fault 2 (delay): field 'delay': is not a field of delay"),
    ('name = "x"\n[description]\nvi = "a"\nen = "b"\n[[faults]]\nkind = "clock_offset"',
     "fault 1 (clock_offset): field 'offset_s': is required"),
    ('name = "x"\n[description]\nvi = "a"\nen = "b"\n[[faults]]\nkind = "clock_drift"\nppm = [5, 1]',
     "field 'ppm': range must be [low, high]"),
    ('name = "x"\n[description]\nvi = "a"\nen = "b"\n[[faults]]\nkind = "silent"\nshare = 0.1\ncount = 3',
     "fault 1 (silent): field 'count'"),
    ('name = "x"\n[description]\nvi = "a"\nen = "b"\n[[faults]]\nkind = "flap"\nduration = 3',
     "fault 1 (flap): field 'duration'"),
    ('name = "x"\n[description]\nvi = "a"\nen = "b"\n[[faults]]\nkind = "silent"\ngroup = "g"\nshare = 0.1\n'
     '[[faults]]\nkind = "loss"\ngroup = "g"\nshare = 0.2', "fault 2 (loss): field 'group'"),
    ('name = "x"\n[description]\nvi = "a"\nen = "b"\n[fleet]\nheartbeat_s = -1', "field 'fleet.heartbeat_s'"),
    ('name = "x"\n[description]\nvi = "a"\nen = "b"\n[[faults]]\nkind = "offline"\nclusters = ["Om-1"]',
     "field 'clusters': 'Om-1' is not a cluster id"),
    ("name = ", "is not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_scenario_file_gets_one_error_naming_the_file_the_fault_and_the_field(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    assert str(raised.value).startswith(str(path)) and message in str(raised.value)


def test_an_unknown_scenario_name_lists_the_library():
    with pytest.raises(ScenarioError, match="power-cut-thoi-hoa"):
        load_scenario("power-cut-everywhere")


# ----- --fault flags


def test_a_fault_flag_gives_kind_selection_times_lists_and_ranges():
    fault = parse_fault_flag("offline:clusters=om-cvl-001+om-cvl-002,at=30,duration=60")
    assert (fault.kind, fault.clusters, fault.at, fault.duration) == ("offline", ("om-cvl-001", "om-cvl-002"), 30, 60)
    assert parse_fault_flag("dead_amplifier:share=0.1").share == 0.1
    assert parse_fault_flag("clock_offset:offset_s=-5..5,ward=thoi-an").params == {"offset_s": (-5, 5)}
    assert parse_fault_flag("loss").params == {"rate": 0.1, "direction": "both"}


def test_a_bad_fault_flag_says_what_is_wrong_with_it():
    with pytest.raises(ScenarioError, match="'noise' must be FIELD=VALUE"):
        parse_fault_flag("loss:noise")
    with pytest.raises(ScenarioError, match="field 'direction': must be one of both, in, out"):
        parse_fault_flag("loss:direction=sideways")


def test_fault_flags_come_after_a_scenario_s_own_faults():
    scenario = combine("dead-amplifiers", ["silent:count=2", "reboot:at=5"])
    assert [(f.index, f.kind) for f in scenario.faults] == [(1, "dead_amplifier"), (2, "dead_speakers"),
                                                            (3, "silent"), (4, "reboot")]
    assert combine(None, []) is None and combine(None, ["silent"]).faults[0].index == 1


# ----- choosing clusters


def test_the_same_seed_chooses_the_same_clusters_and_draws_the_same_values():
    scenario = load_scenario("clock-skew")
    assert periods(plan_faults(scenario, O_MON, 42)) == periods(plan_faults(scenario, O_MON, 42))
    assert plan_faults(scenario, O_MON, 42).chosen != plan_faults(scenario, O_MON, 43).chosen


def test_a_share_of_a_ward_stays_in_the_ward_and_rounds_half_up_to_whole_clusters():  # 58 * 0.25 = 14.5
    plan = plan_faults(combine(None, ["silent:ward=thoi-hoa,share=0.25"]), O_MON, 3)
    wards = {spec.cid: spec.ward for spec in O_MON}
    assert len(plan.chosen[1]) == 15 and {wards[c] for c in plan.chosen[1]} == {"thoi-hoa"}


def test_a_count_named_clusters_and_the_whole_fleet_are_chosen_as_asked():
    plan = plan_faults(combine(None, ["silent:count=5", "offline:clusters=om-cvl-002+om-xyz-999", "dead_amplifier"]),
                       O_MON, 3)
    assert len(plan.chosen[1]) == 5 and plan.chosen[2] == ["om-cvl-002"] and len(plan.chosen[3]) == 456
    assert any("om-xyz-999" in warning for warning in plan.warnings)


def test_a_ward_missing_from_the_fleet_takes_nothing_and_warns():
    plan = plan_faults(load_scenario("power-cut-thoi-hoa"), [ClusterSpec("sim-000001")], 1)
    assert plan.afflictions == [] and "thoi-hoa" in plan.warnings[0]


def test_ranged_values_are_drawn_per_cluster_within_the_range():
    plan = plan_faults(load_scenario("clock-skew"), O_MON, 5)
    offsets = [a.params["offset_s"] for a in plan.afflictions if a.kind == "clock_offset"]
    assert all(-8 <= value <= 8 for value in offsets) and len(set(offsets)) > len(offsets) // 2


# ----- shards


@pytest.mark.parametrize("count", [2, 3, 7])
def test_n_shards_together_make_exactly_the_plan_of_one_process(count):
    scenario = load_scenario("flaky-3g")
    whole = plan_faults(scenario, O_MON, 11)
    parts = []
    for index in range(count):
        shard = {spec.cid for spec in O_MON[index::count]}
        parts.extend(periods(whole.for_clusters(shard)))
    assert sorted(parts) == sorted(periods(whole))


def test_a_sharded_fleet_plans_on_the_whole_fleet_and_keeps_its_part():
    whole = Fleet(O_MON, "mqtt://127.0.0.1:1", scenario="flaky-3g", seed=11, keys=TEST_KEYS)
    shards = [Fleet(O_MON, "mqtt://127.0.0.1:1", scenario="flaky-3g", seed=11, shard=f"{k}/3", keys=TEST_KEYS)
              for k in range(3)]
    assert [len(s.clusters) for s in shards] == [152, 152, 152]
    assert sorted(p for s in shards for p in periods(s.plan)) == sorted(periods(whole.plan))
    assert {a.cid for a in shards[1].plan.afflictions} <= {spec.cid for spec in O_MON[1::3]}


def test_sharded_fleets_with_one_seed_together_take_each_fault_s_share_of_the_whole_fleet():
    plans = [Fleet(O_MON, "mqtt://127.0.0.1:1", scenario="clock-skew", seed=4, shard=(k, 2), keys=TEST_KEYS).plan
             for k in range(2)]
    assert Counter(a.fault.index for p in plans for a in p.afflictions) == {1: 91, 2: 23}


# ----- time scale


def test_time_scale_shrinks_the_schedule_but_not_the_size_of_a_fault():
    scenario = combine(None, ["flap:cycles=2,down_s=10,up_s=20,at=100,spread=50", "delay:delay_s=2,duration=60"])
    plan = plan_faults(scenario, O_MON[:1], 1, time_scale=0.01)
    flap = [a for a in plan.afflictions if a.kind == "flap"]
    first = flap[0].start
    assert 1.0 <= first <= 1.5
    assert [(round(a.start - first, 6), round(a.end - first, 6)) for a in flap] == [(0, 0.1), (0.3, 0.4)]
    (delay,) = [a for a in plan.afflictions if a.kind == "delay"]
    assert (delay.start, delay.end, delay.params["delay_s"]) == (0.0, 0.6, 2)
