"""Dealer records: customers, vehicles, policies; DMS import and synthetic demo data."""
