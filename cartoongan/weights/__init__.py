"""Fetching and converting pretrained weights."""
