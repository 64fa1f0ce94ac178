"""`make bench`: the home feed's throughput and latency against a bare-ASGI baseline.

``python -m bench.run`` (bench/run.py) prepares PostgreSQL and Redis, serves the project and the
baseline (bench/bare_asgi.py) one at a time with uvicorn, loads each with wrk and writes the
results to docs/benchmarks.md and bench/results/.
"""
