"""Handing built messages to a relay or a folder: transports, rate limits, retry rules."""
