"""Certificates of THEORY.md's lemmas and closed forms (symbolic and numeric)."""
