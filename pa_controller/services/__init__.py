"""The use cases. No Flask request objects here."""
