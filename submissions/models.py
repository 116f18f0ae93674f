"""Submissions, their states and scores."""
