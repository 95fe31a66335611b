"""Maintenance commands: execute the chapters, build the site."""
