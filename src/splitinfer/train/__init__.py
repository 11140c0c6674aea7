"""Datasets and training recipes."""
