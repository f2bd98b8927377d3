"""The bench's own safety: the safe state every instrument is driven to, and interlocks."""
