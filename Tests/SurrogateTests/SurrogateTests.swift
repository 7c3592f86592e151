// Tests for Surrogate.
