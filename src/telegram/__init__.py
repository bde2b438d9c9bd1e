"""The Telegram cockpit: commands, reports, charts, scheduled messages and a flood-safe outbox."""
