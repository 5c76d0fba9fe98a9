"""Readers for pose and motion data."""
