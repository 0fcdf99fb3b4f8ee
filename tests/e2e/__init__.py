"""End-to-end tests: the real processes of the process table, observed through their interfaces."""
