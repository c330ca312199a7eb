"""A fake TWS behind ib_async's real IB, for the IBKR adapter's contract tests."""
