"""The web app: public opt-out pages, and (later) the staff console and JSON API."""
