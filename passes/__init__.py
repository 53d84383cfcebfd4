"""Passes: pass plans, printed and electronic passes, PINs, redemption into wallets."""
