"""matrix-msn: a puppeting bridge between Matrix and MSN Messenger (README: Architecture)."""
