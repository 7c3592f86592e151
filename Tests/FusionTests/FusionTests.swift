// Tests for Fusion.
