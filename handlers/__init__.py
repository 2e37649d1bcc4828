"""Telegram: the commands, the gate in front of them, the local chat and the console."""
