"""What api/ and worker/ share about brokers: names, capabilities, wire formats, sessions."""
