"""The control surface's shared rules (the go-live double gate), used by Telegram and the scripts alike."""
