"""Rule steps: each turns part of the spec into rule groups with promtool cases."""
