"""Imatinib population pharmacokinetics: simulation, MAP Bayesian fitting and dose proposals (pure numpy/scipy)."""
