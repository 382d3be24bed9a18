"""The incident register (APPI Art. 26, R12): leaks, their classes, deadlines, notices."""
