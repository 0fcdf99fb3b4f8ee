"""Attacks on the running system (broker, HJ 212 gateway, API), each kept as a test that must keep
failing for the attacker, and checks that nothing legitimate was lost meanwhile."""
