"""A user's settings: the profile (name, mobile, time zone) and the trading preferences.

Named settings_routes, not settings, so that it is never read as shared.settings.
"""
