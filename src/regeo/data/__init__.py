"""Corpus reading, register labeling and subset cutting."""
