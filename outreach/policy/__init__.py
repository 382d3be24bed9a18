"""The published privacy policy generated from the registry (R10) and notice of its changes."""
