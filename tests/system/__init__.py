"""Whole deployments: worker processes behind real nginx, a real browser,
the README commands and the set-up as a newcomer runs them."""
