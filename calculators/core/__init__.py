"""Core calculators: pass-through, flow control, loops, gates, constants."""
