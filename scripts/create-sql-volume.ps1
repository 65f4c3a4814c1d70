# create-sql-volume.ps1 — create a new timestamped volume under ~/.sqlcontainers. Arguments are passed on.
# Expects songsdb on PATH (pip install songsdb, or the repository's .venv activated).
$ErrorActionPreference = 'Stop'
songsdb volumes --create @args
exit $LASTEXITCODE
