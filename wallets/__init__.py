"""Wallets: balances and their ledger; every change goes through wallets.services."""
