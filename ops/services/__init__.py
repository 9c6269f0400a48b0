"""Writes of the ops app, one module per use case: staff, work_items, approvals, notifications."""
