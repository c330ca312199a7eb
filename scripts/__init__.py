"""Developer tooling: embedded servers (devstack) and the `make run` orchestrator."""
