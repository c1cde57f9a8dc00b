"""Metrics of a run: the results tables' schema, the recorder that collects their rows, and the
series and tables derived from them."""
