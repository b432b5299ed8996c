"""Neural networks, one module per network; each pairs a config dataclass with its model."""
