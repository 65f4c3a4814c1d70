"""songsdb's benchmarks: `python -m bench` runs every section against SONGSDB_TEST_DSN (see bench/README.md)."""
