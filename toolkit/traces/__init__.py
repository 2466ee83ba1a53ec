"""Trace readers, writers and fast replay."""
