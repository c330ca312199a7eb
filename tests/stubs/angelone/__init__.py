"""A local Angel One SmartAPI for the contract suite."""
