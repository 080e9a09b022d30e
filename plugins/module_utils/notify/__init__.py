"""Telling people: alert events, their syslog lines, the notifiers (email, webhook, exec) and the outbox."""
