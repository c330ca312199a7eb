"""Column types defined once: every amount is NUMERIC, never float."""

from sqlalchemy import Numeric
from sqlalchemy.dialects.postgresql import TIMESTAMP

# 24 digits with 8 decimals: prices to 1e-8, quantities to fractional shares, cash to 10^16.
Amount = Numeric(24, 8, asdecimal=True)
Timestamp = TIMESTAMP(timezone=True)
