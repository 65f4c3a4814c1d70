# start-songs-db.ps1 — start the stopped songs-db container. Arguments are passed on.
# Expects songsdb on PATH (pip install songsdb, or the repository's .venv activated).
$ErrorActionPreference = 'Stop'
songsdb start @args
exit $LASTEXITCODE
