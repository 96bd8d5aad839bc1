"""Operator control (stand-in until branch wt-ops lands: replaced by its package at merge)."""
