"""Sending security codes: SMTP, an SMS gateway, or a folder outbox."""
