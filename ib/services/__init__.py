"""Writes of the ib app, one module per use case: ``partners`` (the hierarchy and attribution)."""
