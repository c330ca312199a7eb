"""Local stand-ins of the brokers' REST APIs, faithful to their documented wire formats."""
