"""Groww adapter."""
