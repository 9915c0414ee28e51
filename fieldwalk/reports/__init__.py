"""Reports: the weekly lägesbild and the annual follow-up, from periods to figures to pages."""
