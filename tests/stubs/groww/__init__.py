"""A local stub of the Groww Trade API."""
