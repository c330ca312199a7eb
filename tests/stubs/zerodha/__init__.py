"""A local Kite Connect v3 for the contract suite and end-to-end tests."""
