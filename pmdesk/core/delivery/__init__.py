"""Sending security codes: SMTP (password, Microsoft 365 or Google OAuth), Microsoft Graph, an
SMS gateway or provider (Twilio, Vonage, CM.com), or a folder outbox.

Where to start: ``base`` (the settings, methods, ``DeliveryError`` and its step),
``factory.delivery_for`` (builds any method), ``fields`` (what the Security screen's form shows
per method, with hints), ``health`` (the last outcome per method).
"""
