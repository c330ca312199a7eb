"""Interactive Brokers adapter: TWS / IB Gateway over the socket API, through ib_async."""
