"""Writes of the accounts app: clients (lifecycle) and trading accounts (platform)."""
