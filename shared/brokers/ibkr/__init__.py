"""Interactive Brokers (TWS / IB Gateway API through ib_async): pure wire rules and login."""
