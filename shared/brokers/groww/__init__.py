"""Groww (Groww Trade API): wire format and login."""
