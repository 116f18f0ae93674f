"""Competitions, phases, image sets, metric configuration, participation, teams."""
