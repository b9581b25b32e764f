"""Shared helpers of the Debian system test: the container, the Mattermost build, the
services the config names, and the report. Scenarios live in ../scenarios, one per file."""
