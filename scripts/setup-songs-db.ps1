# setup-songs-db.ps1 — create or reuse the volume and the SQL Server container, migrate, write .env.songs-db. Arguments are passed on.
# Expects songsdb on PATH (pip install songsdb, or the repository's .venv activated).
$ErrorActionPreference = 'Stop'
songsdb up @args
exit $LASTEXITCODE
