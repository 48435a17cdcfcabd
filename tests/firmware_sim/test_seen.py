"""The store of accepted command ids."""

from firmware_sim.seen import SeenCommands


def test_seen_commands_remember_the_digest_of_each_id():
    seen = SeenCommands()
    seen.add("a", "d1")
    assert "a" in seen and seen.digest_of("a") == "d1" and seen.digest_of("b") is None


def test_seen_commands_forget_the_oldest_beyond_capacity():
    seen = SeenCommands(capacity=3)
    for cmd_id in "abcd":
        seen.add(cmd_id, cmd_id)
    assert len(seen) == 3 and "a" not in seen and "d" in seen
